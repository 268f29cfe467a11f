// A build's page and a deployment's. While a build runs, its log
// follows: the server sends the new lines (escaped HTML), which are
// appended and scrolled into view unless the reader scrolled up; the
// status and the phases are replaced as they change; the stream is closed
// when the build ends. The search box also hides the lines that do not
// match as one types (the form still searches the whole log on the
// server). Without this script the pages work: search by submitting,
// reload to see more.
(function () {
  "use strict";

  // On a deployment's page, live updates replace the instances: the hook
  // outputs the reader opened or closed stay so.
  var live = document.getElementById("live");
  if (live && window.MutationObserver) {
    var chosen = {};
    var key = function (details) {
      var inst = details.closest("[data-instance]");
      return (inst ? inst.getAttribute("data-instance") : "") + "\n" + details.getAttribute("data-output");
    };
    live.addEventListener("toggle", function (e) {
      if (e.target.matches && e.target.matches("details[data-output]")) {
        chosen[key(e.target)] = e.target.open;
      }
    }, true);
    new MutationObserver(function () {
      Array.prototype.forEach.call(live.querySelectorAll("details[data-output]"), function (d) {
        var k = key(d);
        if (Object.prototype.hasOwnProperty.call(chosen, k) && d.open !== chosen[k]) {
          d.open = chosen[k];
        }
      });
    }).observe(live, { childList: true });
  }

  var log = document.getElementById("log");
  if (!log) {
    return;
  }
  var maxLines = 5000;
  var q = document.getElementById("log-q");

  function matches(line, needle) {
    var text = line.querySelector(".lt");
    return needle === "" || (text !== null && text.textContent.toLowerCase().indexOf(needle) >= 0);
  }
  function needle() {
    return q ? q.value.trim().toLowerCase() : "";
  }
  function filter(lines) {
    var n = needle();
    Array.prototype.forEach.call(lines, function (line) { line.hidden = !matches(line, n); });
  }
  if (q) {
    q.addEventListener("input", function () { filter(log.querySelectorAll(".log-line")); });
  }

  var src = log.getAttribute("data-src");
  if (!src || !window.EventSource) {
    return;
  }
  var summary = document.getElementById("build-summary");
  var follow = document.getElementById("log-follow");
  if (follow) {
    follow.textContent = "The build is running; its log follows here as it grows.";
  }

  // The log keeps to its end while the reader is there; a linked line
  // (#L12) is left in view.
  var stick = !/^#L\d+$/.test(location.hash);
  function nearEnd() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }
  if (stick) {
    log.scrollTop = log.scrollHeight;
  }
  log.addEventListener("scroll", function () { stick = nearEnd(); });

  // Where the stream got to: a reconnection starts there, not where the
  // page's log ended.
  var from = new URL(src, location.href);
  var source = null;

  function append(d) {
    var keep = stick;
    var box = document.createElement("div");
    box.innerHTML = d.html;
    var added = box.querySelectorAll(".log-line");
    filter(added);
    while (box.firstChild) {
      log.appendChild(box.firstChild);
    }
    var lines = log.querySelectorAll(".log-line");
    for (var i = 0; i < lines.length - maxLines; i++) {
      lines[i].remove();
    }
    from.searchParams.set("offset", String(d.offset));
    from.searchParams.set("line", String(d.line));
    if (d.sgr) {
      from.searchParams.set("sgr", d.sgr);
    } else {
      from.searchParams.delete("sgr");
    }
    if (keep) {
      log.scrollTop = log.scrollHeight;
    }
  }

  function open() {
    source = new EventSource(from.pathname + from.search);
    source.addEventListener("lines", function (e) { append(JSON.parse(e.data)); });
    source.addEventListener("summary", function (e) {
      if (summary) {
        summary.innerHTML = e.data;
      }
    });
    source.addEventListener("end", function (e) {
      source.close();
      if (follow) {
        follow.textContent = e.data === "gone" ? "This build no longer exists." : "The build has ended; its whole log is above.";
      }
    });
    source.addEventListener("signedout", function () {
      source.close();
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    });
    source.onerror = function () {
      // EventSource would reconnect to the address it started with; start
      // again from where the log got to instead.
      source.close();
      window.setTimeout(open, 2000);
    };
  }
  open();
})();
