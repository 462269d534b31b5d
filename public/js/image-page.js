// The image page: show only the background-removal options that apply, and say that the work is under way.
(function () {
  'use strict';
  var form = document.querySelector('[data-background-form]');
  if (!form) return;

  function refresh() {
    var mode = form.querySelector('input[name="mode"]:checked');
    var output = form.querySelector('input[name="output"]:checked');
    form.querySelectorAll('[data-show-for-mode]').forEach(function (el) {
      el.hidden = !mode || el.dataset.showForMode !== mode.value;
      el.querySelectorAll('input, select').forEach(function (field) { field.disabled = el.hidden; });
    });
    form.querySelectorAll('[data-show-for-output]').forEach(function (el) {
      el.hidden = !output || el.dataset.showForOutput !== output.value;
    });
  }
  form.addEventListener('change', refresh);
  refresh();

  form.addEventListener('submit', function () {
    var button = form.querySelector('button[type="submit"]');
    button.setAttribute('aria-busy', 'true');
    button.disabled = true;
    button.textContent = button.dataset.busyText;
  });
})();
