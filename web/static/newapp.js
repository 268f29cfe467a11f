// The create-application form: choosing another blueprint reloads the
// form with its parameters at once, keeping what was typed in the fields
// every blueprint has. Without this script the Choose button does it.
"use strict";
(function () {
  var chooser = document.getElementById("blueprint-form");
  var select = document.getElementById("blueprint");
  if (!chooser || !select) {
    return;
  }
  select.addEventListener("change", function () {
    var form = document.getElementById("newapp");
    ["name", "owner", "approvers", "ttl"].forEach(function (name) {
      var field = form && form.elements.namedItem(name);
      if (!field || !field.value) {
        return;
      }
      var keep = document.createElement("input");
      keep.type = "hidden";
      keep.name = name;
      keep.value = field.value;
      chooser.appendChild(keep);
    });
    chooser.submit();
  });
})();
