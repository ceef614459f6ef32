// Shows every <time datetime="…"> in the viewer's own time zone. The server writes UTC (what a page
// without scripts shows, and what the title keeps); a separate file, since the CSP forbids inline code.
document.addEventListener('DOMContentLoaded', () => {
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  for (const element of document.querySelectorAll('time[datetime]')) {
    const when = new Date(element.getAttribute('datetime'));
    if (Number.isNaN(when.getTime())) continue;
    element.textContent = dateTime.format(when);
  }
});
