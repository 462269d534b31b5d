// Charts of the digit analytics from the page's JSON block (the CSP allows no inline script). Without
// JavaScript the same numbers are in the tables beside each chart.
(function () {
  'use strict';
  var dataElement = document.getElementById('digits-chart-data');
  if (!dataElement || typeof window.Chart === 'undefined') return;
  var data = JSON.parse(dataElement.textContent || '{}');
  var styles = getComputedStyle(document.body);
  var textColor = styles.getPropertyValue('--pico-muted-color').trim() || '#666';
  var gridColor = styles.getPropertyValue('--pico-muted-border-color').trim() || '#ddd';
  var narrow = window.matchMedia('(max-width: 576px)').matches;

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    canvas.parentElement.hidden = false;
    config.options = Object.assign({
      responsive: true,
      aspectRatio: narrow ? 1.3 : 2.8,
      animation: false,
      plugins: { legend: { labels: { color: textColor } } },
    }, config.options || {});
    new window.Chart(canvas, config);
  }
  var axes = function (yExtra) {
    return {
      x: { ticks: { color: textColor, maxRotation: 0, autoSkip: true }, grid: { display: false } },
      y: Object.assign({ beginAtZero: true, ticks: { color: textColor, precision: 0 }, grid: { color: gridColor } }, yExtra || {}),
    };
  };

  chart('digits-per-day', {
    type: 'bar',
    data: { labels: data.days, datasets: [
      { label: 'Predictions', data: data.predictions, backgroundColor: '#3b82f6' },
      { label: 'Reviewed', data: data.reviewed, backgroundColor: '#10b981' },
    ] },
    options: { scales: axes() },
  });
  // The per-day table folds away once the chart shows the same numbers.
  var perDayTable = document.querySelector('section[aria-labelledby="over-time"] details');
  if (perDayTable) perDayTable.open = false;

  chart('digits-per-digit', {
    type: 'bar',
    data: { labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], datasets: [
      { label: 'Accuracy (reviewed)', data: data.perDigit.map(function (r) { return r === null ? null : Math.round(r * 1000) / 10; }), backgroundColor: '#3b82f6' },
    ] },
    options: { scales: axes({ max: 100, ticks: { color: textColor, callback: function (v) { return v + '%'; } } }) },
  });

  chart('digits-confidence', {
    type: 'bar',
    data: { labels: data.confidence.labels, datasets: [
      { label: 'Predictions', data: data.confidence.predictions, backgroundColor: '#94a3b8' },
      { label: 'Reviewed: right', data: data.confidence.right, backgroundColor: '#10b981' },
      { label: 'Reviewed: wrong', data: data.confidence.wrong, backgroundColor: '#dc2626' },
    ] },
    options: { scales: axes() },
  });
})();
