// Draws the "requests over time" chart from the page's JSON block (the CSP allows no inline script).
// Without JavaScript the same numbers are in the table below the chart.
(function () {
  'use strict';
  var dataElement = document.getElementById('requests-chart-data');
  var canvas = document.getElementById('requests-chart');
  if (!dataElement || !canvas || typeof window.Chart === 'undefined') return;
  var data = JSON.parse(dataElement.textContent || '{}');
  var box = canvas.parentElement;
  box.hidden = false;
  // The table stays open for readers without JavaScript; with the chart drawn it folds away.
  var table = document.getElementById('requests-chart-table');
  if (table) table.open = false;

  var styles = getComputedStyle(document.body);
  var textColor = styles.getPropertyValue('--pico-muted-color').trim() || '#666';
  var gridColor = styles.getPropertyValue('--pico-muted-border-color').trim() || '#ddd';

  new window.Chart(canvas, {
    type: 'bar',
    data: {
      labels: data.labels,
      datasets: [
        { label: 'OK', data: data.ok, backgroundColor: '#3b82f6' },
        { label: '4xx', data: data.clientErrors, backgroundColor: '#f59e0b' },
        { label: '5xx', data: data.serverErrors, backgroundColor: '#dc2626' },
      ],
    },
    options: {
      responsive: true,
      // Taller on phones, where a wide chart would be a thin strip.
      aspectRatio: window.matchMedia('(max-width: 576px)').matches ? 1.1 : 2.6,
      animation: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { labels: { color: textColor } } },
      scales: {
        x: { stacked: true, ticks: { color: textColor, maxRotation: 0, autoSkip: true }, grid: { display: false } },
        y: { stacked: true, beginAtZero: true, ticks: { color: textColor, precision: 0 }, grid: { color: gridColor } },
      },
    },
  });
})();
