// The photosync app bar above Swagger UI: the product name and the way back to the portal. Built
// with DOM calls (no inline styles or HTML strings), so the page keeps its strict content policy.
(function addAppBar() {
  const bar = document.createElement('header');
  bar.className = 'ps-bar';
  const brand = document.createElement('a');
  brand.className = 'ps-brand';
  brand.href = '/';
  const logo = document.createElement('img');
  logo.src = '/assets/favicon.svg';
  logo.alt = '';
  logo.width = 24;
  logo.height = 24;
  brand.append(logo, 'photosync');
  const title = document.createElement('span');
  title.className = 'ps-title';
  title.textContent = 'API documentation';
  const back = document.createElement('a');
  back.className = 'ps-back';
  back.href = '/';
  back.textContent = 'Back to the portal';
  bar.append(brand, title, back);
  document.body.prepend(bar);
  const ui = document.getElementById('swagger-ui');
  if (ui && !document.querySelector('main')) {
    const main = document.createElement('main');
    ui.replaceWith(main);
    main.append(ui);
  }
})();
