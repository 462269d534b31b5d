// Asks before a form marked data-confirm is sent (disabling an account signs its owner out everywhere).
document.addEventListener('submit', function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  var message = form.getAttribute('data-confirm');
  if (message && !window.confirm(message)) event.preventDefault();
});
