// Says "Caps Lock is on" next to the password while it is: the commonest reason a right password
// is refused. The text sits in the page (translated); this only shows or clears it, in a polite live
// region, so a screen reader hears it once when it changes.
(() => {
  const password = document.getElementById('password');
  const caps = document.getElementById('caps');
  if (!password || !caps) return;
  const update = (event) => {
    if (typeof event.getModifierState !== 'function') return;
    const text = event.getModifierState('CapsLock') ? caps.dataset.text : '';
    if (caps.textContent !== text) caps.textContent = text;
  };
  password.addEventListener('keydown', update);
  password.addEventListener('keyup', update);
  password.addEventListener('blur', () => { caps.textContent = ''; });
})();
