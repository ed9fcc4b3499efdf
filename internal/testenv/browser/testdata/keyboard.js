document.getElementById('last').addEventListener('click', () => {
  document.getElementById('out').textContent = 'pressed';
});
document.getElementById('first').focus();
