// The zip import form: while a large archive uploads and is checked, the button says so and cannot be pressed twice.
(function () {
  'use strict';
  var form = document.querySelector('[data-import-form]');
  if (!form) return;
  form.addEventListener('submit', function () {
    var button = form.querySelector('button[type="submit"]');
    button.setAttribute('aria-busy', 'true');
    button.disabled = true;
    button.textContent = button.dataset.busyText;
  });
})();
