// Shows the chosen file before upload. A separate file, not inline script: the CSP forbids inline code.
document.addEventListener('DOMContentLoaded', () => {
  const input = document.getElementById('photo');
  const preview = document.getElementById('preview');
  const note = document.getElementById('preview-note');
  if (!input || !preview) return;
  let url;
  input.addEventListener('change', () => {
    if (url) URL.revokeObjectURL(url);
    const file = input.files && input.files[0];
    if (!file) {
      preview.hidden = true;
      return;
    }
    url = URL.createObjectURL(file);
    preview.src = url;
    preview.hidden = false;
    if (note) note.textContent = `${file.name}, ${Math.ceil(file.size / 1024)} KB — not saved yet`;
  });
});
