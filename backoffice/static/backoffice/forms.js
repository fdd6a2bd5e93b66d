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

// A <select> whose options htmx replaces (a market search, an exchange change) keeps the value
// chosen meanwhile when the new options still offer it: the answer of a request sent before the
// choice must not undo it.
document.addEventListener("htmx:beforeSwap", function (event) {
  var target = event.detail.target;
  if (target instanceof HTMLSelectElement) target.dataset.keepValue = target.value;
});
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail.target;
  if (!(target instanceof HTMLSelectElement) || !target.dataset.keepValue) return;
  var kept = target.dataset.keepValue;
  delete target.dataset.keepValue;
  if (target.value !== kept && Array.prototype.some.call(target.options, function (o) { return o.value === kept; })) {
    target.value = kept;
  }
});
