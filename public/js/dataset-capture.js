// Rapid capture into a dataset (views/datasets/capture.ejs): every press of the shutter stores one photo in the
// selected label at once (camera.js with review: false, a flash and a click). Labels switch by a click or the keys
// 1-9; each label's count is the server's, updated after every stored photo.
(function () {
  'use strict';
  var group = document.querySelector('[data-capture-labels]');
  var buttons = Array.prototype.slice.call(group.querySelectorAll('[data-label-id]'));
  var announce = document.querySelector('[data-capture-current]');
  var list = document.querySelector('[data-upload-list]');
  var shutter = document.querySelector('[data-camera-capture]');
  var current = buttons.filter(function (b) { return b.getAttribute('aria-checked') === 'true'; })[0] || buttons[0];
  var taken = 0;

  function select(button) {
    current = button;
    buttons.forEach(function (b) {
      var on = b === button;
      b.setAttribute('aria-checked', on ? 'true' : 'false');
      b.classList.toggle('outline', !on);
    });
    var name = document.createElement('strong');
    name.textContent = button.dataset.labelName;
    announce.replaceChildren('Photos go to ', name, '.');
    // Focus on the shutter, so that the space bar takes the next photo rather than pressing the label again.
    if (!shutter.hidden) shutter.focus();
  }

  buttons.forEach(function (button) {
    button.addEventListener('click', function () { select(button); });
  });
  document.addEventListener('keydown', function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !/^[1-9]$/.test(event.key)) return;
    if (event.target.closest && event.target.closest('input, textarea, select')) return;
    var button = buttons[Number(event.key) - 1];
    if (!button) return;
    event.preventDefault();
    select(button);
  });

  window.InkwellCamera.mount(document.querySelector('[data-camera]'), {
    review: false,
    sound: true,
    onKeep: function (blob) {
      var target = current;
      taken++;
      var row = window.InkwellUpload.addRow(list, target.dataset.labelName + ': photo ' + taken);
      window.InkwellUpload.send(target.dataset.action, {
        file: blob,
        fileName: 'camera.jpg',
        fieldName: 'images',
        fields: { source: 'camera' },
        csrf: group.dataset.csrf,
        onProgress: row.progress,
        onWait: row.wait,
      }).then(function (result) {
        if (!result.ok) { row.fail(result.message); return; }
        var item = result.body.items[0];
        row.done('Stored in ' + result.body.label.name + ': ' + item.name, item.url);
        target.querySelector('[data-count]').textContent = String(result.body.label.image_count);
      });
    },
  });
})();
