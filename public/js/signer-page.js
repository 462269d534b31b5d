// The signer's page (views/signatures/show.ejs): reference signatures drawn on the pad or photographed are uploaded
// at once (the uploader's send and rows); the verification form takes a file, a drawing, a photo or a library image,
// lets the user drag a crop rectangle on it, and posts it. Without script the form is a file input and a typed crop.
(function () {
  'use strict';

  var Upload = window.InkwellUpload;

  // Reference signatures from the pad and the camera: one request each, then the page reloads to show them.
  function sendReference(container, list, blob, fileName, source) {
    var row = Upload.addRow(list, fileName);
    return Upload.send(container.dataset.action, {
      file: blob,
      fileName: fileName,
      fieldName: 'images',
      fields: { source: source },
      csrf: container.dataset.csrf,
      onProgress: row.progress,
      onWait: row.wait,
    }).then(function (result) {
      if (!result.ok) { row.fail(result.message); return; }
      row.done('Added: ' + result.body.items[0].name);
      window.location.reload();
    });
  }

  var drawSection = document.querySelector('[data-reference-draw]');
  if (drawSection) {
    var addButton = drawSection.querySelector('[data-reference-draw-add]');
    var referencePad = window.InkwellDrawingPad.mount(drawSection.querySelector('[data-drawing-pad]'), {
      onChange: function () { addButton.disabled = referencePad.isBlank(); },
    });
    addButton.addEventListener('click', function () {
      addButton.disabled = true;
      referencePad.toBlob().then(function (blob) {
        return sendReference(addButton, drawSection.querySelector('[data-reference-draw-list]'), blob, 'drawing.png', 'drawing');
      }).then(function () { addButton.disabled = referencePad.isBlank(); });
    });
  }

  var cameraSection = document.querySelector('[data-reference-camera]');
  if (cameraSection) {
    // The camera starts only when the section is opened: it asks for permission and lights the camera.
    var referenceCamera = null;
    cameraSection.addEventListener('toggle', function () {
      if (cameraSection.open && !referenceCamera) {
        referenceCamera = window.InkwellCamera.mount(cameraSection.querySelector('[data-camera]'), {
          onKeep: function (blob) { sendReference(cameraSection, cameraSection.querySelector('[data-reference-camera-list]'), blob, 'camera.jpg', 'camera'); },
        });
      } else if (!cameraSection.open && referenceCamera) {
        referenceCamera.stop();
        referenceCamera = null;
      }
    });
  }

  var form = document.querySelector('[data-verify-form]');
  if (!form) return;

  var sourceInput = form.querySelector('[data-verify-source]');
  var library = form.querySelector('[data-verify-library]');
  var fileInput = form.querySelector('[data-verify-file]');
  var cropArea = form.querySelector('[data-crop-area]');
  var stage = form.querySelector('[data-crop-stage]');
  var preview = form.querySelector('[data-crop-image]');
  var box = form.querySelector('[data-crop-box]');
  var cropInput = form.querySelector('[data-crop-input]');
  var message = form.querySelector('[data-verify-message]');
  var submit = form.querySelector('[data-verify-submit]');
  var questioned = null; // the Blob to send (file, drawing, photo); null with a library image
  var previewUrl = null;
  var questionedPad = null;
  var questionedCamera = null;

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function showPreview(src) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = src && src.indexOf('blob:') === 0 ? src : null;
    cropArea.hidden = !src;
    if (src) preview.src = src;
    clearCrop();
  }

  function use(blob, source) {
    questioned = blob;
    sourceInput.value = source;
    showPreview(blob ? URL.createObjectURL(blob) : null);
    say('');
  }

  // The crop rectangle: dragged on the preview, kept in the image's own pixels in the crop field (which keyboard users type into).
  var dragStart = null;
  function clearCrop() {
    box.hidden = true;
    cropInput.value = '';
  }
  function imagePoint(event) {
    var rect = preview.getBoundingClientRect();
    var x = Math.min(Math.max(event.clientX - rect.left, 0), rect.width);
    var y = Math.min(Math.max(event.clientY - rect.top, 0), rect.height);
    return { x: x, y: y, scale: preview.naturalWidth / rect.width };
  }
  function drawBox(a, b) {
    var left = Math.min(a.x, b.x);
    var top = Math.min(a.y, b.y);
    var width = Math.abs(a.x - b.x);
    var height = Math.abs(a.y - b.y);
    box.hidden = false;
    box.style.left = left + 'px';
    box.style.top = top + 'px';
    box.style.width = width + 'px';
    box.style.height = height + 'px';
    var s = a.scale;
    var naturalLeft = Math.round(left * s);
    var naturalTop = Math.round(top * s);
    var naturalWidth = Math.min(Math.round(width * s), preview.naturalWidth - naturalLeft);
    var naturalHeight = Math.min(Math.round(height * s), preview.naturalHeight - naturalTop);
    cropInput.value = naturalWidth >= 8 && naturalHeight >= 8 ? [naturalLeft, naturalTop, naturalWidth, naturalHeight].join(',') : '';
  }
  stage.addEventListener('pointerdown', function (event) {
    if (event.button !== 0 && event.pointerType === 'mouse') return;
    event.preventDefault();
    stage.setPointerCapture(event.pointerId);
    dragStart = imagePoint(event);
  });
  stage.addEventListener('pointermove', function (event) {
    if (!dragStart) return;
    event.preventDefault();
    drawBox(dragStart, imagePoint(event));
  });
  function endDrag(event) {
    if (!dragStart) return;
    drawBox(dragStart, imagePoint(event));
    dragStart = null;
    if (!cropInput.value) box.hidden = true;
  }
  stage.addEventListener('pointerup', endDrag);
  stage.addEventListener('pointercancel', function () { dragStart = null; });
  form.querySelector('[data-crop-clear]').addEventListener('click', clearCrop);
  cropInput.addEventListener('input', function () { box.hidden = true; });

  if (library) {
    showPreview(library.dataset.src);
  } else {
    var choices = form.querySelector('[data-verify-choices]');
    choices.hidden = false;
    var panels = form.querySelectorAll('[data-verify-panel]');
    var choose = function (method) {
      panels.forEach(function (panel) { panel.hidden = panel.dataset.verifyPanel !== method; });
      if (method === 'drawing' && !questionedPad) {
        questionedPad = window.InkwellDrawingPad.mount(form.querySelector('[data-verify-panel="drawing"] [data-drawing-pad]'), {
          onChange: function () {
            if (questionedPad.isBlank()) { use(null, 'drawing'); return; }
            questionedPad.toBlob().then(function (blob) { use(blob, 'drawing'); });
          },
        });
      }
      if (method === 'camera' && !questionedCamera) {
        questionedCamera = window.InkwellCamera.mount(form.querySelector('[data-verify-camera] [data-camera]'), {
          onKeep: function (blob) { use(blob, 'camera'); },
        });
      }
      if (method !== 'camera' && questionedCamera) {
        questionedCamera.stop();
        questionedCamera = null;
      }
      use(method === 'upload' && fileInput.files[0] ? fileInput.files[0] : null, method);
      if (method === 'drawing' && !questionedPad.isBlank()) questionedPad.toBlob().then(function (blob) { use(blob, 'drawing'); });
    };
    choices.addEventListener('change', function (event) { choose(event.target.value); });
    fileInput.addEventListener('change', function () { use(fileInput.files[0] || null, 'upload'); });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (!library && !questioned) {
      say('Choose, draw or photograph the signature to verify first.');
      return;
    }
    var data = new FormData();
    data.append('_csrf', form.querySelector('input[name="_csrf"]').value);
    data.append('source', sourceInput.value);
    data.append('crop', cropInput.value);
    if (library) data.append('library_image_id', library.value);
    else data.append('image', questioned, questioned.name || (sourceInput.value === 'camera' ? 'camera.jpg' : 'drawing.png'));
    submit.setAttribute('aria-busy', 'true');
    submit.disabled = true;
    say('');
    fetch(form.action, { method: 'POST', body: data, headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (response.ok && body && body.url) { window.location.assign(body.url); return; }
          say(body && body.error ? body.error.message : 'The verification failed (HTTP ' + response.status + '). Try again.');
          submit.removeAttribute('aria-busy');
          // Over the per-minute limit the message says how long to wait; the button comes back when it is over.
          var waitSeconds = response.status === 429 ? Math.min(120, Math.max(1, Number(response.headers.get('Retry-After')) || 5)) : 0;
          setTimeout(function () { submit.disabled = false; }, waitSeconds * 1000);
        });
      })
      .catch(function () {
        say('The server could not be reached. Check your connection and try again.');
        submit.removeAttribute('aria-busy');
        submit.disabled = false;
      });
  });
})();
