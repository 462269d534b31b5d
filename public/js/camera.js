// The camera component (markup: views/partials/camera.ejs), shared by every page that takes photos.
// window.InkwellCamera.mount(root, { onKeep: function (blob) {...}, review: true, sound: false })
//   review: true  -> capture shows the still with Retake / Keep; onKeep gets the JPEG blob.
//   review: false -> every capture goes straight to onKeep (rapid capture), with a flash and, if sound, a click.
(function () {
  'use strict';

  var INSECURE =
    'The camera only works on a secure page (https://, or http://localhost on this computer). ' +
    'Ask the administrator to set TLS_CERT_FILE and TLS_KEY_FILE (or to put Inkwell behind an HTTPS proxy), then open this page with https://. ' +
    'Meanwhile you can upload photos from your gallery on the Images page.';

  function explain(error) {
    var name = error && error.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') {
      return 'Camera access was refused. Allow the camera for this site (the camera icon in the address bar, or the browser\'s site settings), then press Start camera.';
    }
    if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') return 'No camera was found on this device.';
    if (name === 'NotReadableError' || name === 'TrackStartError') return 'The camera is busy or could not be started. Close other apps that use it and press Start camera.';
    return 'The camera could not be started (' + (name || 'unknown error') + ').';
  }

  function mount(root, options) {
    options = options || {};
    var review = options.review !== false;
    var video = root.querySelector('[data-camera-video]');
    var still = root.querySelector('[data-camera-still]');
    var flash = root.querySelector('[data-camera-flash]');
    var message = root.querySelector('[data-camera-message]');
    var buttons = {
      start: root.querySelector('[data-camera-start]'),
      capture: root.querySelector('[data-camera-capture]'),
      switch: root.querySelector('[data-camera-switch]'),
      retake: root.querySelector('[data-camera-retake]'),
      keep: root.querySelector('[data-camera-keep]'),
    };
    var stream = null;
    var cameras = [];
    var cameraIndex = -1;
    var pending = null;
    var audio = null;

    function show(visible) {
      Object.keys(buttons).forEach(function (key) { buttons[key].hidden = visible.indexOf(key) < 0; });
    }
    function say(text) { message.textContent = text; }

    function stop() {
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }

    function constraints() {
      if (cameraIndex >= 0 && cameras[cameraIndex]) return { video: { deviceId: { exact: cameras[cameraIndex].deviceId } }, audio: false };
      // The rear camera when there is one: documents and objects are photographed, not selfies.
      return { video: { facingMode: { ideal: 'environment' }, width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false };
    }

    function start() {
      if (!window.isSecureContext) { say(INSECURE); show([]); return; }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say('This browser cannot use a camera.'); show([]); return; }
      say('Starting the camera…');
      stop();
      navigator.mediaDevices.getUserMedia(constraints()).then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        still.hidden = true;
        return video.play();
      }).then(function () {
        return navigator.mediaDevices.enumerateDevices();
      }).then(function (devices) {
        cameras = devices.filter(function (d) { return d.kind === 'videoinput'; });
        var current = stream && stream.getVideoTracks()[0] && stream.getVideoTracks()[0].getSettings().deviceId;
        cameras.forEach(function (camera, i) { if (camera.deviceId === current) cameraIndex = i; });
        say(review ? 'Point the camera and press Take photo.' : 'Press Take photo (or the space bar) for each picture.');
        show(cameras.length > 1 ? ['capture', 'switch'] : ['capture']);
        buttons.capture.focus();
      }).catch(function (error) {
        stop();
        say(explain(error));
        show(['start']);
      });
    }

    function shutter() {
      flash.hidden = false;
      flash.classList.remove('camera-flash-on');
      void flash.offsetWidth;
      flash.classList.add('camera-flash-on');
      if (options.sound && window.AudioContext) {
        audio = audio || new AudioContext();
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.frequency.value = 1200;
        gain.gain.setValueAtTime(0.2, audio.currentTime);
        gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.08);
        osc.connect(gain).connect(audio.destination);
        osc.start();
        osc.stop(audio.currentTime + 0.08);
      }
    }

    function capture() {
      if (!stream || !video.videoWidth) return;
      var canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      shutter();
      canvas.toBlob(function (blob) {
        if (!blob) { say('The photo could not be taken. Try again.'); return; }
        if (!review) { options.onKeep(blob); return; }
        pending = blob;
        still.src = URL.createObjectURL(blob);
        still.hidden = false;
        video.hidden = true;
        say('Keep this photo or take it again.');
        show(['retake', 'keep']);
        buttons.keep.focus();
      }, 'image/jpeg', 0.92);
    }

    function backToLive() {
      if (still.src) URL.revokeObjectURL(still.src);
      still.hidden = true;
      video.hidden = false;
      pending = null;
      say('Point the camera and press Take photo.');
      show(cameras.length > 1 ? ['capture', 'switch'] : ['capture']);
      buttons.capture.focus();
    }

    buttons.start.addEventListener('click', start);
    buttons.capture.addEventListener('click', capture);
    buttons.retake.addEventListener('click', backToLive);
    buttons.keep.addEventListener('click', function () {
      var blob = pending;
      backToLive();
      if (blob) options.onKeep(blob);
    });
    buttons.switch.addEventListener('click', function () {
      if (cameras.length < 2) return;
      cameraIndex = (cameraIndex + 1) % cameras.length;
      start();
    });
    if (!review) {
      // Rapid capture: the space bar takes a photo from anywhere on the page but a form field or a button.
      document.addEventListener('keydown', function (event) {
        if (event.key !== ' ' || buttons.capture.hidden) return;
        if (event.target.closest && event.target.closest('input, textarea, select, button, a')) return;
        event.preventDefault();
        capture();
      });
    }
    window.addEventListener('pagehide', stop);
    show([]);
    start();
    return { capture: capture, stop: stop };
  }

  window.InkwellCamera = { mount: mount };
})();
