// Live progress of a long run (force sync, import): listens to the run's server-sent events.
(function () {
  const section = document.getElementById('run');
  if (!section || !window.EventSource) return;
  const text = (id, value) => {
    const el = document.getElementById(id);
    if (el) el.textContent = String(value);
  };

  function show(p) {
    const percent = p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100);
    const bar = document.getElementById('run-bar');
    bar.max = p.total || 1;
    bar.value = p.total === 0 ? 1 : p.done;
    text('run-percent', percent + '%');
    text('run-done', p.done);
    text('run-total', p.total);
    text('run-failed', p.failed);
    text('run-rate', p.ratePerSecond);
    text('run-eta', p.etaSeconds === null ? 'unknown' : p.etaSeconds + ' s');
    document.getElementById('run-eta-part').hidden = p.status !== 'running';
    text(
      'run-status',
      { running: 'Running', finished: 'Finished', cancelled: 'Cancelled', interrupted: 'Interrupted' }[p.status] || p.status,
    );
    const failures = document.getElementById('run-failures');
    if (failures)
      failures.replaceChildren(
        ...p.failures.map((f) => {
          const li = document.createElement('li');
          const strong = document.createElement('strong');
          strong.textContent = f.item;
          li.append(strong, ': ' + f.reason);
          return li;
        }),
      );
    const none = document.getElementById('run-no-failures');
    if (none) none.hidden = p.failures.length > 0;
    if (none && p.status !== 'running') none.textContent = 'None.';
    if (p.status !== 'running') document.getElementById('run-cancel').hidden = true;
  }

  const events = new EventSource(section.dataset.events);
  events.addEventListener('progress', (e) => show(JSON.parse(e.data)));
  events.addEventListener('finished', (e) => {
    show(JSON.parse(e.data));
    events.close();
    const hint = document.getElementById('run-reload-hint');
    // The report (an import's file list) comes with the page: load it now.
    if (hint) window.location.reload();
  });
})();
