// Asks before a button (or form) marked data-confirm submits: disabling an account signs its owner out everywhere.
document.addEventListener('submit', function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  var submitter = event.submitter;
  var message = (submitter && submitter.getAttribute('data-confirm')) || form.getAttribute('data-confirm');
  if (message && !window.confirm(message)) event.preventDefault();
});
