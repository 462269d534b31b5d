// The capture page: each photo kept from the camera is uploaded to the image library at once.
(function () {
  'use strict';
  var target = document.querySelector('[data-capture-target]');
  var list = target.querySelector('[data-upload-list]');
  var count = 0;
  window.InkwellCamera.mount(document.querySelector('[data-camera]'), {
    onKeep: function (blob) {
      count++;
      var name = 'Photo ' + count;
      var row = window.InkwellUpload.addRow(list, name);
      window.InkwellUpload.send(target.dataset.action, {
        file: blob,
        fileName: 'camera.jpg',
        fieldName: 'images',
        fields: { source: 'camera' },
        csrf: target.dataset.csrf,
        onProgress: row.progress,
        onWait: row.wait,
      }).then(function (result) {
        if (result.ok) {
          var item = result.body.items[0];
          row.done('Stored: ' + item.name, item.url);
        } else {
          row.fail(result.message);
        }
      });
    },
  });
})();
