// Idle warning: ask the portal how long the session has left (without extending it) and, shortly
// before the idle timeout, offer to stay signed in; when it has ended, go to the sign-in page.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="session-status"]');
  if (!meta) { return; }
  var statusUrl = meta.getAttribute("content");
  var keepaliveUrl = document.querySelector('meta[name="session-keepalive"]').getAttribute("content");
  var loginUrl = document.querySelector('meta[name="session-login"]').getAttribute("content");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var banner = null, timer = null;

  function hideBanner() { if (banner) { banner.remove(); banner = null; } }

  function showBanner(seconds) {
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "session-warning";
      banner.className = "flash flash-error";
      banner.setAttribute("role", "alertdialog");
      var text = document.createElement("span");
      text.id = "session-warning-text";
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "Stay signed in";
      button.addEventListener("click", keepAlive);
      banner.appendChild(text);
      banner.appendChild(document.createTextNode(" "));
      banner.appendChild(button);
      document.body.insertBefore(banner, document.body.firstChild);
    }
    document.getElementById("session-warning-text").textContent =
      "Your session will end in " + Math.max(0, Math.round(seconds)) + " seconds without activity.";
  }

  function schedule(seconds) {
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(1000, seconds * 1000));
  }

  function check() {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (!s.authenticated) {
          window.location.assign(loginUrl + "?next=" + encodeURIComponent(window.location.pathname));
          return;
        }
        var left = Math.min(s.idle_s, s.absolute_s);
        if (left <= s.warning_s) {
          showBanner(left);
          schedule(Math.min(5, left + 1));
        } else {
          hideBanner();
          schedule(left - s.warning_s);
        }
      })
      .catch(function () { schedule(30); });
  }

  function keepAlive() {
    fetch(keepaliveUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.getAttribute("content") : "", "Accept": "application/json" }
    }).then(function () { hideBanner(); check(); });
  }

  check();
})();
