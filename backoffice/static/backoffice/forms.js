// Forms marked data-submit-once: the first submit disables their buttons and says so, so a
// second click cannot post the same action again (a Sync now, an engage, a send).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-submit-once")) return;
  if (form.dataset.submitted === "1") { event.preventDefault(); return; }
  form.dataset.submitted = "1";
  // After the submit's own button value is read by the browser: disable on the next tick.
  setTimeout(function () {
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (button) {
      button.disabled = true;
      if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
    });
  }, 0);
}, true);
