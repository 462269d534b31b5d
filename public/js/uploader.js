// Uploads with a progress bar per file, used by every page that takes image files (the markup is
// views/partials/uploader.ejs). Each file goes in its own request, so a refused file fails alone.
// Other scripts use window.InkwellUpload.send and .addRow for files they make themselves (camera captures).
(function () {
  'use strict';

  var PARALLEL = 3;

  function messageFor(status, body, fallback) {
    if (body && body.error && body.error.message) return body.error.message;
    if (status === 413) return 'The file is too large.';
    if (status === 403) return 'The page has expired. Reload it and try again.';
    if (status === 401) return 'You have been signed out. Sign in again and retry.';
    if (status === 0) return 'The server could not be reached. Check your connection and try again.';
    return fallback || 'The upload failed (HTTP ' + status + ').';
  }

  // The server limits uploads per minute (429 with Retry-After): a file waits its turn and goes again by
  // itself, a few times at most, so a large batch finishes without the user starting it over.
  var MAX_WAITS = 5;
  var LONGEST_WAIT_S = 120;

  // Sends one file as multipart/form-data; resolves with { ok, status, body } and never rejects.
  function sendOnce(url, options) {
    return new Promise(function (resolve) {
      var data = new FormData();
      data.append('_csrf', options.csrf);
      Object.keys(options.fields || {}).forEach(function (name) { data.append(name, options.fields[name]); });
      data.append(options.fieldName, options.file, options.fileName || options.file.name);
      var xhr = new XMLHttpRequest();
      xhr.open('POST', url);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('X-CSRF-Token', options.csrf);
      xhr.upload.addEventListener('progress', function (event) {
        if (event.lengthComputable && options.onProgress) options.onProgress(event.loaded / event.total);
      });
      xhr.addEventListener('load', function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        var ok = xhr.status >= 200 && xhr.status < 300;
        var retryAfter = xhr.status === 429 ? Math.min(LONGEST_WAIT_S, Math.max(1, Number(xhr.getResponseHeader('Retry-After')) || 5)) : 0;
        resolve({ ok: ok, status: xhr.status, body: body, retryAfter: retryAfter, message: ok ? '' : messageFor(xhr.status, body) });
      });
      xhr.addEventListener('error', function () { resolve({ ok: false, status: 0, body: null, message: messageFor(0) }); });
      xhr.send(data);
    });
  }

  // sendOnce, waiting out the rate limit; options.onWait(seconds) is told of each wait.
  function send(url, options, waited) {
    waited = waited || 0;
    return sendOnce(url, options).then(function (result) {
      if (result.status !== 429 || waited >= MAX_WAITS) return result;
      if (options.onWait) options.onWait(result.retryAfter);
      return new Promise(function (resume) { setTimeout(resume, result.retryAfter * 1000); }).then(function () {
        return send(url, options, waited + 1);
      });
    });
  }

  // One line in an upload list: name, progress bar, status.
  function addRow(list, name) {
    var row = document.createElement('li');
    row.className = 'upload-row';
    var label = document.createElement('span');
    label.className = 'upload-name';
    label.textContent = name;
    var bar = document.createElement('progress');
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute('aria-label', 'Upload of ' + name);
    var status = document.createElement('span');
    status.className = 'upload-status';
    status.textContent = 'Waiting…';
    row.append(label, bar, status);
    list.prepend(row);
    return {
      progress: function (fraction) {
        bar.value = fraction;
        status.textContent = fraction < 1 ? Math.round(fraction * 100) + '%' : 'Checking…';
      },
      wait: function (seconds) {
        bar.value = 0;
        status.textContent = 'Waiting ' + seconds + ' s: too many uploads this minute. It will go on by itself.';
        status.setAttribute('role', 'status');
      },
      done: function (text, href) {
        bar.value = 1;
        row.classList.add('upload-done');
        status.textContent = '';
        if (href) {
          var link = document.createElement('a');
          link.href = href;
          link.textContent = text;
          status.append(link);
        } else {
          status.textContent = text;
        }
      },
      fail: function (message) {
        row.classList.add('upload-failed');
        bar.hidden = true;
        status.textContent = message;
        status.setAttribute('role', 'alert');
      },
    };
  }

  function mount(form) {
    var input = form.querySelector('[data-file-input]');
    var zone = form.querySelector('[data-dropzone]');
    var list = form.querySelector('[data-upload-list]');
    var maxBytes = Number(form.dataset.maxBytes);
    var csrf = form.querySelector('input[name="_csrf"]').value;
    var source = form.querySelector('input[name="source"]');
    var queue = [];
    var running = 0;
    var failures = 0;

    function finishIfIdle() {
      if (running > 0 || queue.length > 0) return;
      form.dispatchEvent(new CustomEvent('uploads-finished', { detail: { failures: failures } }));
      // The gallery shows what arrived; a failed file's message stays on screen instead.
      if (failures === 0 && form.hasAttribute('data-reload-when-done')) window.location.reload();
      failures = 0;
    }

    function next() {
      while (running < PARALLEL && queue.length > 0) {
        var job = queue.shift();
        running++;
        send(form.action, {
          file: job.file,
          fieldName: input.name,
          fields: source ? { source: source.value } : {},
          csrf: csrf,
          onProgress: job.row.progress,
          onWait: job.row.wait,
        }).then(function (job, result) {
          running--;
          // A page that shows results its own way (the digit pages) cancels this event and fills the row itself.
          var shownByPage = !form.dispatchEvent(new CustomEvent('upload-result', { cancelable: true, detail: { file: job.file, result: result, row: job.row } }));
          if (!result.ok) failures++;
          if (!shownByPage && result.ok) job.row.done('Stored: ' + result.body.items[0].name, result.body.items[0].url);
          if (!shownByPage && !result.ok) job.row.fail(result.message);
          next();
          finishIfIdle();
        }.bind(null, job));
      }
    }

    function add(files) {
      Array.prototype.forEach.call(files, function (file) {
        var row = addRow(list, file.name);
        if (file.size > maxBytes) {
          failures++;
          row.fail('Too large: each file may be at most ' + form.dataset.maxText + '.');
          return;
        }
        queue.push({ file: file, row: row });
      });
      next();
      finishIfIdle();
    }

    input.addEventListener('change', function () {
      add(input.files);
      input.value = '';
    });
    ['dragenter', 'dragover'].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add('dropzone-active');
      });
    });
    ['dragleave', 'drop'].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove('dropzone-active'); });
    });
    zone.addEventListener('drop', function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) add(event.dataTransfer.files);
    });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      add(input.files);
    });
  }

  window.InkwellUpload = { send: send, addRow: addRow };
  document.querySelectorAll('[data-uploader]').forEach(mount);
})();
