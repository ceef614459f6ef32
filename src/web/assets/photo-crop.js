// Crop before upload: the chosen photo opens in cropper.js (served from this machine), a square with a
// round preview that can be dragged, zoomed and turned, by pointer or keyboard. On submit the cropped
// square replaces the chosen file; the server validates it like any upload. Without this script the
// original file is sent and the server crops it around its centre. A separate file: the CSP forbids
// inline code.
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('photo-form');
  const input = document.getElementById('photo');
  const crop = document.getElementById('crop');
  const area = document.getElementById('crop-area');
  const image = document.getElementById('crop-image');
  const note = document.getElementById('preview-note');
  if (!form || !input || !crop || !image || typeof window.Cropper !== 'function' || typeof DataTransfer !== 'function') return;
  let cropper;
  let cropped = false;

  const say = (text) => {
    if (note) note.textContent = text;
  };
  const stop = () => {
    if (cropper) cropper.destroy();
    cropper = undefined;
    crop.hidden = true;
  };

  input.addEventListener('change', () => {
    stop();
    cropped = false;
    const file = input.files && input.files[0];
    if (!file) return say('');
    if (!/^image\/(jpeg|png)$/.test(file.type)) return say(`${file.name} is not a JPEG or PNG photo. Choose another file.`);
    const reader = new FileReader();
    reader.addEventListener('load', () => {
      image.onerror = () => say(`${file.name} cannot be read as a photo. Choose another file.`);
      image.onload = () => {
        image.onload = null;
        crop.hidden = false;
        // A data URL lets cropper.js read the EXIF orientation itself (no request; the CSP allows none).
        cropper = new window.Cropper(image, {
          aspectRatio: 1,
          viewMode: 1,
          dragMode: 'move',
          autoCropArea: 1,
          guides: false,
          background: false,
          preview: '#crop-preview',
          ready() {
            // The library's copies of the photo are decoration; the area is labelled as a whole.
            for (const copy of crop.querySelectorAll('img')) copy.alt = '';
          },
        });
        say(`${file.name}, ${Math.ceil(file.size / 1024)} KB — not saved yet. Choose the square, then save.`);
      };
      image.src = reader.result;
    });
    reader.readAsDataURL(file);
  });

  const actions = {
    'zoom-in': () => cropper.zoom(0.1),
    'zoom-out': () => cropper.zoom(-0.1),
    'rotate-left': () => cropper.rotate(-90),
    'rotate-right': () => cropper.rotate(90),
    reset: () => cropper.reset(),
  };
  crop.addEventListener('click', (event) => {
    const action = event.target.closest('[data-crop]')?.dataset.crop;
    if (cropper && actions[action]) actions[action]();
  });
  area?.addEventListener('keydown', (event) => {
    if (!cropper) return;
    const step = event.shiftKey ? 50 : 10;
    const keys = {
      ArrowLeft: () => cropper.move(-step, 0),
      ArrowRight: () => cropper.move(step, 0),
      ArrowUp: () => cropper.move(0, -step),
      ArrowDown: () => cropper.move(0, step),
      '+': actions['zoom-in'],
      '=': actions['zoom-in'],
      '-': actions['zoom-out'],
      r: actions['rotate-right'],
      R: actions['rotate-left'],
    };
    if (!keys[event.key]) return;
    event.preventDefault();
    keys[event.key]();
  });

  form.addEventListener('submit', (event) => {
    if (!cropper || cropped) return;
    event.preventDefault();
    // At most 648 px, the largest size Mail keeps; a smaller crop is sent as it is (never upscaled).
    const canvas = cropper.getCroppedCanvas({ maxWidth: 648, maxHeight: 648, fillColor: '#fff', imageSmoothingQuality: 'high' });
    canvas.toBlob(
      (blob) => {
        if (!blob) return say('The photo could not be cropped here; it is sent as it is and cropped around its centre.');
        const files = new DataTransfer();
        files.items.add(new File([blob], 'photo.jpg', { type: 'image/jpeg' }));
        input.files = files.files;
        cropped = true;
        form.requestSubmit();
      },
      'image/jpeg',
      0.92,
    );
  });
});
