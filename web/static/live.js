// Live updates of a page: the server sends the HTML of #live (on an
// application's page the pipeline picture, the approval, the environments)
// each time it changes. What was typed in the approval form and where the focus was
// survive an update. Without this script the page works, just not live.
(function () {
  "use strict";

  var clone = document.getElementById("clone-url");
  if (clone) {
    clone.addEventListener("focus", function () { clone.select(); });
  }

  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }

  // approvalKey names the approval a form decides, so that what was typed
  // is kept only for the same approval.
  function approvalKey(root) {
    var form = root.querySelector("#approval");
    if (!form) {
      return "";
    }
    return ["execution", "stage", "action"].map(function (n) {
      var el = form.elements.namedItem(n);
      return el ? el.value : "";
    }).join("\n");
  }

  function update(html) {
    var active = document.activeElement;
    var focusId = active && active !== live && live.contains(active) ? active.id || "" : "";
    var hadFocus = active && active !== live && live.contains(active);
    var key = approvalKey(live);
    var comment = live.querySelector("#comment");
    var kept = comment ? { value: comment.value, start: comment.selectionStart, end: comment.selectionEnd } : null;

    live.innerHTML = html;

    var again = live.querySelector("#comment");
    if (kept && again && key !== "" && approvalKey(live) === key) {
      again.value = kept.value;
    }
    if (!hadFocus) {
      return;
    }
    var target = focusId ? document.getElementById(focusId) : null;
    if (target && live.contains(target)) {
      target.focus();
      if (target === again && kept && typeof kept.start === "number") {
        try { target.setSelectionRange(kept.start, kept.end); } catch (e) { /* not a text field */ }
      }
    } else {
      // What had the focus is gone (an approval decided): keep it in the
      // live region rather than losing it to the document.
      live.focus();
    }
  }

  // The stream is data-src, or this page's path with /live.
  var src = new URL(live.dataset.src || location.pathname.replace(/\/+$/, "") + "/live", location.href);
  var params = new URLSearchParams(location.search);
  params.forEach(function (v, k) { if (!src.searchParams.has(k)) { src.searchParams.set(k, v); } });
  src.searchParams.set("digest", live.dataset.digest || "");
  var source = new EventSource(src.pathname + src.search);
  source.addEventListener("update", function (e) { update(e.data); });
  source.addEventListener("signedout", function () {
    source.close();
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  });
})();
