// Submits the HTTP-POST binding form once the page (and any sign-out cleanup images on it) has
// loaded; the button stays for browsers without JavaScript.
window.addEventListener('load', () => document.getElementById('post-binding').submit());
