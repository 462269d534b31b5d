// The drawing page: the shared drawing pad, a prediction after the pen lifts, the result with what the model saw.
// One request at a time: a stroke that ends while a reading is under way asks for another one when it returns,
// so the answer shown is always for the latest drawing. Readings of the same drawing replace each other in
// the history (the server keeps only the last, unless it was corrected); Clear starts a new drawing.
(function () {
  'use strict';
  var root = document.querySelector('[data-digit-draw]');
  if (!root || !window.InkwellDrawingPad) return;
  var DEBOUNCE_MS = 350;
  var message = root.querySelector('[data-draw-message]');
  var result = root.querySelector('[data-draw-result]');
  var form = root.querySelector('[data-draw-correction]');
  var csrf = form.querySelector('input[name="_csrf"]').value;
  var timer = null;
  var busy = false;
  var version = 0; // bumped by every change of the drawing
  var drawing = 0; // bumped when the pad is cleared: a new drawing
  var lastId = null; // the latest stored reading of the current drawing

  function say(text) {
    message.textContent = text;
    message.hidden = false;
  }

  function render(body) {
    root.querySelector('[data-result-digit]').textContent = String(body.digit);
    root.querySelector('[data-result-confidence]').textContent = (body.confidence * 100).toFixed(1) + '% sure';
    root.querySelector('[data-result-input]').src = body.input;
    root.querySelectorAll('[data-result-probabilities] li').forEach(function (item, digit) {
      var p = body.probabilities[digit];
      item.classList.toggle('probability-top', digit === body.digit);
      item.querySelector('progress').value = p;
      item.querySelector('progress').setAttribute('aria-label', digit + ': ' + (p * 100).toFixed(1) + '%');
      item.querySelector('.probability-value').textContent = (p * 100).toFixed(1) + '%';
    });
    form.action = '/digits/predictions/' + body.id + '/correction';
    form.dataset.ready = 'true';
    window.InkwellCorrection.showPressed(form, body.prediction);
    form.querySelectorAll('button[name="label"]').forEach(function (button) {
      button.classList.toggle('correction-as-read', button.value === String(body.digit));
    });
    form.querySelector('[data-correction-status]').textContent = '';
    root.querySelector('[data-result-link]').href = body.url;
    message.hidden = true;
    result.hidden = false;
  }

  function blank() {
    result.hidden = true;
    say('Draw a digit to see what the model reads.');
  }

  function predict() {
    timer = null;
    if (pad.isBlank()) return blank();
    if (busy) return;
    busy = true;
    var sentVersion = version;
    var sentDrawing = drawing;
    pad.toBlob().then(function (blob) {
      var data = new FormData();
      data.append('_csrf', csrf);
      data.append('source', 'drawing');
      if (lastId !== null) data.append('replaces', String(lastId));
      data.append('image', blob, 'drawing.png');
      return fetch('/digits/predictions', { method: 'POST', body: data, headers: { Accept: 'application/json', 'X-CSRF-Token': csrf } });
    }).then(function (response) {
      var retryAfter = response.status === 429 ? Math.min(120, Math.max(1, Number(response.headers.get('Retry-After')) || 5)) : 0;
      return response.json().then(function (body) { return { ok: response.ok, body: body, retryAfter: retryAfter }; });
    }).then(function (answer) {
      busy = false;
      if (answer.ok && sentDrawing === drawing) lastId = answer.body.id;
      if (sentVersion !== version) return schedule(0);
      if (answer.retryAfter) {
        // Over the per-minute limit: the drawing is read again by itself once the wait is over.
        result.hidden = true;
        say('Too many readings this minute: this drawing will be read in ' + answer.retryAfter + ' s.');
        return schedule(answer.retryAfter * 1000);
      }
      if (answer.ok) return render(answer.body);
      result.hidden = true;
      var code = answer.body && answer.body.error && answer.body.error.code;
      say(code === 'no_ink' ? 'Nothing to read yet: the strokes are too faint or too small. Draw the digit larger.' : (answer.body && answer.body.error && answer.body.error.message) || 'The drawing could not be read.');
    }).catch(function () {
      busy = false;
      say('The server could not be reached. Check your connection; the drawing is still here.');
    });
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(predict, delay);
  }

  var pad = window.InkwellDrawingPad.mount(root.querySelector('[data-drawing-pad]'), {
    onChange: function () {
      version++;
      if (pad.isBlank()) {
        clearTimeout(timer);
        drawing++;
        lastId = null;
        blank();
        return;
      }
      schedule(DEBOUNCE_MS);
    },
  });
  // A new stroke postpones the reading: the digit is not finished yet.
  root.querySelector('[data-pad-canvas]').addEventListener('pointerdown', function () { clearTimeout(timer); });
  // A correction makes the reading part of the history for good: the next stroke starts a new drawing.
  form.addEventListener('correction-saved', function () { lastId = null; });
})();
