// careloop: show a failed request's reason in the page's alert region (no inline scripts: CSP).
(function () {
  "use strict";
  function flash(text) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    box.focus && box.setAttribute("tabindex", "-1");
    box.focus && box.focus();
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var message = "The request failed (" + xhr.status + ").";
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error) { message = body.error; }
    } catch (ignored) {
      // A portal error page (in the patient's language): show its explanation.
      var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var text = doc.querySelector("[data-testid=error-text]");
      if (text && text.textContent) { message = text.textContent.trim(); }
    }
    if (xhr.status === 401) { message = "Your session has ended: please sign in again."; }
    flash(message);
  });
  document.addEventListener("htmx:sendError", function () {
    flash("The server could not be reached. Check the connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("flash");
    if (box) { box.hidden = true; }
  });
})();
