// ChatBell panel placeholder: no behaviour yet. Loaded as an external module
// because the CSP forbids inline scripts.
document.documentElement.dataset.ready = "true";
