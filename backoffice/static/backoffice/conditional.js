// Show a form's parts only when they apply: an element with data-show-if="exchange=polymarket mode=self"
// is shown while every named field of its form has one of the listed values (comma-separated), and
// hidden otherwise (its inputs disabled, so a hidden field is never posted).
(function () {
  function value(form, name) {
    var field = form.elements.namedItem(name);
    if (!field) return "";
    if (field instanceof RadioNodeList || (field.length !== undefined && !field.tagName)) {
      for (var i = 0; i < field.length; i++) { if (field[i].checked) return field[i].value; }
      return field.value || "";
    }
    return field.value;
  }
  function applies(form, rule) {
    return rule.trim().split(/\s+/).every(function (clause) {
      var parts = clause.split("=");
      return parts[1].split(",").indexOf(value(form, parts[0])) !== -1;
    });
  }
  function refresh(root) {
    (root || document).querySelectorAll("[data-show-if]").forEach(function (element) {
      var form = element.closest("form");
      if (!form) return;
      var shown = applies(form, element.getAttribute("data-show-if"));
      element.hidden = !shown;
      element.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !shown; });
    });
  }
  document.addEventListener("change", function () { refresh(); });
  document.addEventListener("DOMContentLoaded", function () { refresh(); });
  document.addEventListener("htmx:afterSettle", function () { refresh(); });
})();
