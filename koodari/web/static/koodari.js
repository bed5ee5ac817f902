// koodari serve: the review keys (the same as `koodari review`) and the browser's own timing of each key.
// Every key clicks the button that carries it (data-key), so the keyboard and the mouse take one path.
(function () {
  "use strict";
  const timings = (window.koodariTimings = []);
  let pending = null;

  function scope() {
    const dialog = document.querySelector("#dialog .dialog");
    return dialog && dialog.querySelector("[data-key='1']") ? dialog : document.querySelector("#panel") || document;
  }

  function closeDialog() {
    const dialog = document.getElementById("dialog");
    if (dialog) dialog.innerHTML = "";
  }

  function toggleHelp() {
    const help = document.getElementById("help");
    if (help) help.hidden = !help.hidden;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || document.body.dataset.page !== "review") return;
    const target = event.target;
    if (target.matches && target.matches("input, textarea, select")) {
      if (event.key === "Escape") { closeDialog(); event.preventDefault(); }
      else if (event.key === "Enter" && target.hasAttribute("data-submit-blur")) {
        // the search: Enter shows the hits, then a digit picks one
        setTimeout(function () { target.blur(); }, 0);
      }
      return;
    }
    if (event.key === "Escape") { closeDialog(); event.preventDefault(); return; }
    if (event.key === "?") { toggleHelp(); event.preventDefault(); return; }
    const key = event.key === "Enter" ? "Enter" : event.key;
    if (!/^(Enter|[1-9/nr+su])$/.test(key)) return;
    const button = scope().querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (!button) return;
    event.preventDefault();
    pending = { key: key, start: performance.now(), unit: (document.getElementById("panel") || {}).dataset?.unit };
    button.click();
  });

  document.addEventListener("click", function (event) {
    const el = event.target.closest && event.target.closest(".help-toggle, .close");
    if (!el) return;
    if (el.classList.contains("help-toggle")) toggleHelp(); else closeDialog();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    const focus = event.target.querySelector && event.target.querySelector("[autofocus]");
    if (focus) focus.focus();
    const panel = document.getElementById("panel");
    if (!pending || !panel || event.target !== panel) return;
    const started = pending;
    pending = null;
    // the next unit is in the page; two animation frames later it has been painted
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        const duration = performance.now() - started.start;
        performance.measure("koodari-key", { start: started.start, duration: duration });
        timings.push({ key: started.key, ms: duration, from: started.unit, to: panel.dataset.unit });
      });
    });
  });
})();
