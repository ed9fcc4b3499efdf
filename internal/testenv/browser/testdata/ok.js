document.getElementById('go').addEventListener('click', () => {
  document.getElementById('out').textContent = 'Hello, ' + document.getElementById('name').value;
});
// Something that appears later, as data fetched after the page loaded would.
setTimeout(() => {
  const p = document.createElement('p');
  p.id = 'late';
  p.textContent = 'late';
  document.body.append(p);
}, 150);
