// Copy buttons: <button data-copy="#element-id">. Works without a framework; a no-JS user can select the text.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});
// Show the fields of the chosen option only: <div data-show-when="field=value">.
function syncConditionalFields() {
  document.querySelectorAll("[data-show-when]").forEach((block) => {
    const [name, values] = block.dataset.showWhen.split("=");
    const checked = document.querySelector(`input[name$="${name}"]:checked`);
    block.hidden = checked ? !values.split("|").includes(checked.value) : false;
  });
}
document.addEventListener("change", syncConditionalFields);
document.addEventListener("DOMContentLoaded", syncConditionalFields);
