// Follows the Continue link on load. A plain 303 cannot be used after a form POST: browsers apply the
// page's CSP form-action to the redirect, and ours only allows this origin.
window.location.replace(document.getElementById('continue').href);
