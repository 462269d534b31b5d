// Corrections without leaving the page: every form marked data-correction-form posts with fetch and shows the
// outcome in its status line. Without script the same forms post normally and the page comes back.
// A page can listen for the 'correction-saved' event (detail: the prediction) to update what it shows.
(function () {
  'use strict';

  function describe(prediction) {
    var c = prediction.correction;
    if (!c) return 'Not reviewed.';
    if (c.label === null) return 'Reviewed: not a digit.';
    return c.label === prediction.digit ? 'Reviewed: confirmed.' : 'Reviewed: it is a ' + c.label + '.';
  }

  function showPressed(form, prediction) {
    var label = prediction.correction ? String(prediction.correction.label === null ? 'none' : prediction.correction.label) : null;
    form.querySelectorAll('button[name="label"]').forEach(function (button) {
      var pressed = button.value === label;
      button.setAttribute('aria-pressed', pressed ? 'true' : 'false');
      button.classList.toggle('outline', !pressed);
    });
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-correction-form')) return;
    event.preventDefault();
    if (!form.dataset.ready && form.getAttribute('action') === '#') return;
    var data = new FormData(form);
    if (event.submitter && event.submitter.name) data.set(event.submitter.name, event.submitter.value);
    var status = form.querySelector('[data-correction-status]');
    status.textContent = 'Saving…';
    fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(data),
      headers: { Accept: 'application/json', 'X-CSRF-Token': String(data.get('_csrf')) },
    })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (!answer.ok) {
          status.textContent = (answer.body && answer.body.error && answer.body.error.message) || 'The correction could not be saved.';
          return;
        }
        status.textContent = describe(answer.body);
        showPressed(form, answer.body);
        form.dispatchEvent(new CustomEvent('correction-saved', { bubbles: true, detail: answer.body }));
      })
      .catch(function () {
        status.textContent = 'The correction could not be saved. Check your connection and try again.';
      });
  });

  window.InkwellCorrection = { describe: describe, showPressed: showPressed };
})();
