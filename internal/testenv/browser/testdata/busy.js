// A long task: 200 ms of work after the first paint, as rendering a large table would.
setTimeout(() => {
  const end = performance.now() + 200;
  while (performance.now() < end) {}
  document.body.append('done');
}, 50);
