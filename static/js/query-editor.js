// The query editor: CodeMirror 5 (vendored in static/vendor) over the form's <textarea>, which stays the
// source of truth, so the plain form POST and htmx both send what is in the editor. Ctrl/Cmd-Enter runs;
// an error with a line and column puts the cursor there. Each run gets an id of the page's making (sent as
// run_id, kept as the query's id), so that the Cancel button, shown while the run waits, can stop that query.
(function () {
  let editor = null;
  let runId = null;
  const NO_ID = "00000000-0000-0000-0000-000000000000";

  function newRunId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16)); // randomUUID wants HTTPS or localhost
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function cancel(form, button, attempt) {
    button.disabled = true;
    button.textContent = "Cancelling…";
    const token = form.querySelector("[name=csrfmiddlewaretoken]").value;
    fetch(button.dataset.cancelUrl.replace(NO_ID, runId), {
      method: "POST",
      headers: { "X-CSRFToken": token, "HX-Request": "true" },
      credentials: "same-origin",
    }).then((response) => {
      // 404: the run's row isn't written yet (the click came first): ask again shortly.
      if (response.status === 404 && attempt < 10 && !button.hidden) {
        setTimeout(() => cancel(form, button, attempt + 1), 200);
      }
    });
  }

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
    const cancelButton = form.querySelector("[data-cancel]");
    const runInput = form.querySelector("[data-run-id]");
    // Capture: before htmx's own submit listener reads the form, so that the id sent is the one kept here.
    form.addEventListener(
      "submit",
      () => {
        runId = newRunId();
        runInput.value = runId;
      },
      true,
    );
    form.addEventListener("htmx:configRequest", (event) => {
      event.detail.parameters.run_id = runId;
      cancelButton.hidden = false;
      cancelButton.disabled = false;
      cancelButton.textContent = "Cancel";
    });
    form.addEventListener("htmx:afterRequest", () => {
      cancelButton.hidden = true;
    });
    cancelButton.addEventListener("click", () => cancel(form, cancelButton, 0));
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
