// The drawing pad (markup: views/partials/drawing-pad.ejs), shared by every page where people draw: digits,
// signatures. Pointer events cover mouse, touch and pen; `touch-action: none` on the canvas keeps a phone from
// scrolling while drawing. Strokes are kept as points, so undo redraws them and the ink scales with the canvas.
//
// var pad = window.InkwellDrawingPad.mount(root, { onStrokeEnd: function () {...}, onChange: function () {...} });
// pad.isBlank(), pad.clear(), pad.undo(), pad.toBlob() -> Promise<Blob> (PNG, dark ink on white)
(function () {
  'use strict';

  function mount(root, options) {
    options = options || {};
    var canvas = root.querySelector('[data-pad-canvas]');
    var context = canvas.getContext('2d');
    var clearButton = root.querySelector('[data-pad-clear]');
    var undoButton = root.querySelector('[data-pad-undo]');
    // Ink width as a share of the canvas's shorter side (data-ink-width, default 3.5%: a marker on a digit box).
    var inkShare = Number(root.dataset.inkWidth || 0.035);
    var strokes = [];
    var current = null;

    function inkWidth() { return Math.max(1, Math.min(canvas.width, canvas.height) * inkShare); }

    function redraw() {
      context.fillStyle = '#ffffff';
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.strokeStyle = root.dataset.inkColor || '#111111';
      context.lineCap = 'round';
      context.lineJoin = 'round';
      context.lineWidth = inkWidth();
      strokes.forEach(function (stroke) {
        context.beginPath();
        context.moveTo(stroke[0].x, stroke[0].y);
        // A single tap draws a dot.
        if (stroke.length === 1) context.lineTo(stroke[0].x + 0.01, stroke[0].y);
        for (var i = 1; i < stroke.length; i++) context.lineTo(stroke[i].x, stroke[i].y);
        context.stroke();
      });
      var blank = strokes.length === 0;
      if (clearButton) clearButton.disabled = blank;
      if (undoButton) undoButton.disabled = blank;
    }

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return { x: ((event.clientX - box.left) / box.width) * canvas.width, y: ((event.clientY - box.top) / box.height) * canvas.height };
    }

    canvas.addEventListener('pointerdown', function (event) {
      if (event.button !== 0 && event.pointerType === 'mouse') return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      current = [point(event)];
      strokes.push(current);
      redraw();
    });
    canvas.addEventListener('pointermove', function (event) {
      if (!current) return;
      event.preventDefault();
      // Coalesced events keep fast pen strokes smooth where the browser batches them.
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      (events.length ? events : [event]).forEach(function (e) { current.push(point(e)); });
      redraw();
    });
    function end() {
      if (!current) return;
      current = null;
      if (options.onChange) options.onChange();
      if (options.onStrokeEnd) options.onStrokeEnd();
    }
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);

    var pad = {
      isBlank: function () { return strokes.length === 0; },
      clear: function () {
        strokes = [];
        redraw();
        if (options.onChange) options.onChange();
      },
      undo: function () {
        strokes.pop();
        redraw();
        if (options.onChange) options.onChange();
      },
      toBlob: function () {
        return new Promise(function (resolve) { canvas.toBlob(resolve, 'image/png'); });
      },
    };
    if (clearButton) clearButton.addEventListener('click', pad.clear);
    if (undoButton) undoButton.addEventListener('click', pad.undo);
    redraw();
    return pad;
  }

  window.InkwellDrawingPad = { mount: mount };
})();
