// The query editor: CodeMirror 5 (vendored in static/vendor) over the form's <textarea>, which stays the
// source of truth, so the plain form POST and htmx both send what is in the editor. Ctrl/Cmd-Enter runs;
// an error with a line and column puts the cursor there.
(function () {
  let editor = null;

  function run(form) {
    if (editor) editor.save();
    form.requestSubmit();
  }

  function showError(root) {
    const error = root.querySelector("[data-error-line]");
    if (!error || !error.dataset.errorLine) return;
    const line = Number(error.dataset.errorLine) - 1;
    const ch = Math.max(Number(error.dataset.errorColumn || 1) - 1, 0);
    if (editor) {
      editor.focus();
      editor.setCursor({ line, ch });
      editor.addLineClass(line, "background", "sql-error-line");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-query-form]");
    if (!form) return;
    const textarea = form.querySelector("textarea");
    if (window.CodeMirror) {
      const mac = /Mac|iPhone|iPad/.test(navigator.platform);
      editor = window.CodeMirror.fromTextArea(textarea, {
        mode: "text/x-sql",
        lineNumbers: true,
        lineWrapping: true,
        matchBrackets: true,
        indentWithTabs: false,
        viewportMargin: Infinity,
        extraKeys: { [mac ? "Cmd-Enter" : "Ctrl-Enter"]: () => run(form), "Ctrl-Enter": () => run(form) },
      });
      editor.on("change", () => {
        editor.save();
        editor.eachLine((handle) => editor.removeLineClass(handle, "background", "sql-error-line"));
      });
    } else {
      textarea.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          run(form);
        }
      });
    }
    showError(document);
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target && event.detail.target.id === "query-result") showError(event.detail.target);
  });
})();
