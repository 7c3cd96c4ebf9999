// Progressive enhancement only: every page works without this file.
// 1. Live run progress: an element with data-poll re-fetches its HTML fragment until the run ends.
// 2. The unlink dialog opens in a <dialog> over the master-link list instead of a new page.
(function () {
  "use strict";

  function poll(holder) {
    var url = holder.getAttribute("data-poll");
    var timer = window.setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          holder.innerHTML = html;
          var status = holder.querySelector("[data-finished]");
          if (status && status.getAttribute("data-finished") === "true") {
            window.clearInterval(timer);
            if (holder.getAttribute("data-reload-when-done") === "true") {
              window.location.reload(); // the finished page shows the plan, the issues, "完了"
            }
          }
        })
        .catch(function () { window.clearInterval(timer); });
    }, 1000);
  }

  function unlinkDialogs() {
    document.querySelectorAll("a.unlink").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (typeof HTMLDialogElement === "undefined") { return; }
        event.preventDefault();
        fetch(link.href, { credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var section = doc.querySelector("#unlink-dialog");
            if (!section) { window.location.href = link.href; return; }
            var dialog = document.createElement("dialog");
            dialog.appendChild(document.importNode(section, true));
            document.body.appendChild(dialog);
            var cancel = dialog.querySelector(".buttons a");
            if (cancel) {
              cancel.addEventListener("click", function (e) { e.preventDefault(); dialog.close(); dialog.remove(); });
            }
            dialog.showModal();
          });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
    unlinkDialogs();
  });
})();
