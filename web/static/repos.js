// Repository pages: the clone URL gets a Copy button. The branch
// selector is left to its Show button: a page that changed as the arrow
// keys move through the choices would lose keyboard users.
(function () {
  "use strict";
  var input = document.getElementById("clone-url");
  if (input && navigator.clipboard) {
    var button = document.createElement("button");
    button.type = "button";
    button.id = "copy-clone-url";
    button.className = "repo-copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy the clone URL");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      }, function () {
        input.select();
      });
    });
    input.insertAdjacentElement("afterend", button);
  }
  // The clone URL is selected whole when it gets focus, ready to copy.
  if (input) {
    input.addEventListener("focus", function () { input.select(); });
  }
})();
