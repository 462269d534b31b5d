// Keeps a model job's progress up to date (admin evaluation and training pages): polls its status every 2 s while it
// is queued or running, and reloads the page once it has ended so that the result shows. The state lives on the
// server, so a reload simply picks it up again.
(function () {
  var box = document.querySelector('[data-job-status]');
  if (!box) return;
  var state = box.getAttribute('data-job-state');
  if (state !== 'queued' && state !== 'running') return;
  var text = box.querySelector('[data-job-text]');
  var bar = box.querySelector('[data-job-bar]');
  var log = document.querySelector('[data-job-log]');

  function describe(job) {
    var p = job.progress || {};
    if (job.status === 'queued') return 'Queued: starts in a moment.';
    if (job.kind === 'evaluation') return p.total ? (p.done || 0) + ' of ' + p.total + ' images evaluated.' : 'Loading the version…';
    if (p.phase === 'exporting') return 'Exporting the corrections through the production preprocessing' + (p.total ? ': ' + (p.done || 0) + ' of ' + p.total : '') + '…';
    if (p.phase === 'training') return p.epoch ? 'Epoch ' + p.epoch + ' of ' + p.epochs + ': loss ' + p.loss + ', validation accuracy ' + p.val_accuracy + '%.' : 'Training: epoch 1 of ' + p.epochs + ' running…';
    if (p.phase === 'evaluating') return 'Measuring the new version on the held-out corrections…';
    if (p.phase === 'registering') return 'Registering the new version…';
    return 'Starting…';
  }

  function poll() {
    fetch(box.getAttribute('data-job-status'), { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (job) {
        if (!job) return setTimeout(poll, 5000);
        if (job.status !== 'queued' && job.status !== 'running') return window.location.reload();
        var p = job.progress || {};
        text.textContent = describe(job);
        if (job.kind === 'evaluation') { bar.max = p.total || 1; bar.value = p.done || 0; }
        else { bar.max = p.epochs || 1; bar.value = p.epoch || 0; }
        if (log && job.log_tail) log.textContent = job.log_tail;
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
