// The digit upload page: the shared uploader sends each file on its own; this script turns each answer into a
// row of the results table (thumbnail, digit, confidence, the ten probabilities on demand, a correction form).
// A refused file keeps the uploader's own error line and does not stop the others.
(function () {
  'use strict';
  var form = document.querySelector('[data-uploader]');
  var section = document.querySelector('[data-digit-results]');
  var template = document.querySelector('template[data-result-row]');
  if (!form || !section || !template) return;
  var table = section.querySelector('[data-results-table]');
  var body = section.querySelector('[data-results-body]');

  function probabilityItems(list, probabilities, digit) {
    probabilities.forEach(function (p, d) {
      var item = document.createElement('li');
      if (d === digit) item.className = 'probability-top';
      var label = document.createElement('span');
      label.className = 'probability-digit';
      label.textContent = String(d);
      var bar = document.createElement('progress');
      bar.max = 1;
      bar.value = p;
      bar.setAttribute('aria-label', d + ': ' + (p * 100).toFixed(1) + '%');
      var value = document.createElement('span');
      value.className = 'probability-value';
      value.textContent = (p * 100).toFixed(1) + '%';
      item.append(label, bar, value);
      list.append(item);
    });
  }

  form.addEventListener('upload-result', function (event) {
    var result = event.detail.result;
    if (!result.ok) return; // the uploader shows the refusal in the file's row
    event.preventDefault();
    var item = result.body.items[0];
    event.detail.row.done('Read as ' + item.digit + ' (' + (item.confidence * 100).toFixed(1) + '%)', item.url);
    var row = template.content.firstElementChild.cloneNode(true);
    row.querySelector('[data-cell-link]').href = item.url;
    row.querySelector('[data-cell-thumb]').src = URL.createObjectURL(event.detail.file);
    row.querySelector('[data-cell-name]').textContent = item.file;
    row.querySelector('[data-cell-digit]').textContent = String(item.digit);
    row.querySelector('[data-cell-confidence]').textContent = (item.confidence * 100).toFixed(1) + '%';
    probabilityItems(row.querySelector('[data-cell-probabilities]'), item.probabilities, item.digit);
    var correction = row.querySelector('[data-correction-form]');
    correction.action = '/digits/predictions/' + item.id + '/correction';
    correction.querySelector('select').value = String(item.digit);
    correction.querySelector('select').setAttribute('aria-label', 'True digit of ' + item.file);
    body.prepend(row);
    table.hidden = false;
    section.querySelector('[data-results-empty]').hidden = true;
  });
})();
