// Follows the Continue link once the page, and any sign-out cleanup images on it, have loaded. A
// plain 303 cannot be used after a form POST: browsers apply the page's CSP form-action to it.
window.addEventListener('load', () => window.location.replace(document.getElementById('continue').href));
