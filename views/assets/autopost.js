// Submits the HTTP-POST binding form on load; the button stays for browsers without JavaScript.
document.getElementById('post-binding').submit();
