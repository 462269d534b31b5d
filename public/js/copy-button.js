// "Copy" beside a value shown once (a temporary password, a reset or invitation link). Without script, or where
// the clipboard is not available (plain HTTP), the field stays selectable and the button stays hidden.
(function () {
  'use strict';
  if (!navigator.clipboard) return;
  document.querySelectorAll('[data-copy]').forEach(function (button) {
    var field = document.querySelector(button.getAttribute('data-copy'));
    if (!field) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(field.value).then(
        function () { button.textContent = 'Copied'; },
        function () { field.select(); },
      );
    });
  });
  document.querySelectorAll('[data-secret]').forEach(function (field) {
    field.addEventListener('focus', function () { field.select(); });
  });
})();
