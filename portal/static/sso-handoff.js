// Quick channels: submit the hand-off form as soon as the page is there (no inline script: CSP).
(function () {
  "use strict";
  var form = document.getElementById("sso-handoff");
  if (form && form.getAttribute("data-auto-submit") === "true") {
    form.submit();
  }
})();
