// Live updates of a page: the server sends the HTML of #live (on an
// application's page the pipeline picture, the approval, the environments;
// on a pipeline's or an execution's page their live parts) each time it
// changes. What was typed or chosen in a form and where the focus was
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

  // formKey names what a form acts on (its target and its hidden fields:
  // the approval's execution, stage and action, a transition's stage), so
  // that what was typed is kept only for the same thing.
  function formKey(form) {
    if (!form) {
      return "";
    }
    var parts = [form.getAttribute("action") || ""];
    Array.prototype.forEach.call(form.querySelectorAll("input[type=hidden]"), function (el) {
      parts.push(el.name + "=" + el.value);
    });
    return parts.join("\n");
  }

  // fieldKey names a field the user may have changed: its form's key,
  // then its id or its name and value (a radio button).
  function fieldKey(el) {
    var id = el.type === "radio" ? el.name + "=" + el.value : el.id;
    return id ? formKey(el.form) + "\n" + id : "";
  }

  function fields(root) {
    return root.querySelectorAll("textarea, input:not([type=hidden]), select");
  }

  // save keeps the fields whose value the user changed.
  function save() {
    var kept = {};
    Array.prototype.forEach.call(fields(live), function (el) {
      var key = fieldKey(el);
      if (!key) {
        return;
      }
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked !== el.defaultChecked) {
          kept[key] = { checked: el.checked };
        }
      } else if (el.tagName === "SELECT") {
        kept[key] = { value: el.value };
      } else if (el.value !== el.defaultValue) {
        kept[key] = { value: el.value, start: el.selectionStart, end: el.selectionEnd };
      }
    });
    return kept;
  }

  function restore(kept) {
    Array.prototype.forEach.call(fields(live), function (el) {
      var k = kept[fieldKey(el)];
      if (!k) {
        return;
      }
      if ("checked" in k) {
        el.checked = k.checked;
      } else {
        el.value = k.value;
      }
    });
  }

  function update(html) {
    var active = document.activeElement;
    var hadFocus = active && active !== live && live.contains(active);
    var focusKey = hadFocus ? fieldKey(active) || active.id || "" : "";
    var kept = save();
    var sel = hadFocus && kept[focusKey] ? kept[focusKey] : null;

    live.innerHTML = html;
    restore(kept);

    if (!hadFocus) {
      return;
    }
    var target = null;
    if (focusKey) {
      Array.prototype.forEach.call(live.querySelectorAll("[id], textarea, input, select"), function (el) {
        if (!target && (fieldKey(el) === focusKey || el.id === focusKey)) {
          target = el;
        }
      });
    }
    if (target) {
      target.focus();
      if (sel && typeof sel.start === "number") {
        try { target.setSelectionRange(sel.start, sel.end); } catch (e) { /* not a text field */ }
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
  // What the page shows has ended (a deployment finished): no more
  // updates, and no reconnecting.
  source.addEventListener("end", function () { source.close(); });
  source.addEventListener("signedout", function () {
    source.close();
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  });
})();
