// Gallery selection: the download and delete buttons act on the ticked images, and say how many.
(function () {
  'use strict';
  var form = document.querySelector('[data-gallery]');
  if (!form) return;
  var boxes = form.querySelectorAll('input[name="ids"]');
  var all = form.querySelector('[data-select-all]');
  var count = form.querySelector('[data-selection-count]');
  var actions = form.querySelectorAll('[data-needs-selection]');
  var initial = count.textContent;

  function update() {
    var ticked = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
    count.textContent = ticked === 0 ? initial : ticked + ' selected';
    actions.forEach(function (button) { button.disabled = ticked === 0; });
    all.checked = ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  boxes.forEach(function (box) { box.addEventListener('change', update); });
  all.addEventListener('change', function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
    update();
  });
  update();
})();
