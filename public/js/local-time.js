// Shows every <time data-local-time> in the viewer's own time zone and language; the UTC time stays on hover.
// Without script the page shows UTC, marked as such.
(function () {
  'use strict';
  var formats = {
    date: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' }),
    datetime: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
  };
  document.querySelectorAll('time[data-local-time]').forEach(function (element) {
    var moment = new Date(element.getAttribute('datetime'));
    if (Number.isNaN(moment.getTime())) return;
    element.textContent = (formats[element.getAttribute('data-local-time')] || formats.datetime).format(moment);
    element.title = 'UTC: ' + moment.toISOString().slice(0, 19).replace('T', ' ');
  });
})();
