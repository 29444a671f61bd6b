// The operator console's glue, loaded by every page (no inline script: the pages'
// Content-Security-Policy forbids it). An action button or form posts to the /admin API
// through htmx; this shows what it answered, and reads the page again after a success so
// that what it shows is what paygate holds now.
(function () {
  "use strict";

  function show(text, kind) {
    var notice = document.getElementById("notice");
    if (!notice) return;
    notice.textContent = text;
    notice.className = kind;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var done = sessionStorage.getItem("paygate-notice");
    if (done) {
      sessionStorage.removeItem("paygate-notice");
      show(done, "ok");
    }
  });

  // Belt and braces with the page's htmx-config: no answer is ever swapped into the page
  // (an answer carries text merchants wrote; as markup it could make requests as the
  // operator, CSRF token included).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    evt.detail.shouldSwap = false;
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    var detail = evt.detail;
    if (!detail || !detail.xhr || detail.requestConfig.verb === "get") return;
    if (detail.successful) {
      var what = detail.elt.getAttribute("data-done") || "done";
      sessionStorage.setItem("paygate-notice", "Done: " + what + ".");
      window.location.reload();
      return;
    }
    var text = "HTTP " + detail.xhr.status;
    try {
      var body = JSON.parse(detail.xhr.responseText);
      text = body.error.code + ": " + body.error.message;
    } catch (e) {
      // Not the API's error body (a proxy's page): the status says enough.
    }
    show(text, "error");
  });

  // A request that never got an answer (paygate down, network gone).
  document.addEventListener("htmx:sendError", function () {
    show("paygate did not answer; nothing is known to have changed", "error");
  });
})();
