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
// The RCU slider: show the value, warn above half a provisioned table's capacity, estimate the load time.
function formatDuration(seconds) {
  if (!isFinite(seconds)) return "—";
  if (seconds < 60) return "under a minute";
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
  const hours = seconds / 3600;
  return hours < 48 ? `about ${hours.toFixed(1)} hours` : `about ${(hours / 24).toFixed(1)} days`;
}
function syncRcu() {
  const input = document.querySelector("[data-rcu-input]");
  const estimate = document.querySelector("[data-rcu-estimate]");
  if (!input || !estimate) return;
  const rcu = Math.max(1, Number(input.value) || 1);
  const output = document.querySelector("[data-rcu-output]");
  if (output) output.textContent = rcu;
  const warning = document.querySelector("[data-rcu-warning]");
  if (warning) warning.hidden = rcu <= Number(input.dataset.rcuHalf);
  // collections_app.capacity.scan_seconds (ingest.pacing): rcu ÷ (1 + a call's duration), unless the worker's
  // slots, each moving at most a full page per round trip, move less; plus the start.
  const { sizeBytes, bytesPerRcu, callSeconds, roundTrip, slots, fullPage, startSeconds } = estimate.dataset;
  const rate = Math.min(rcu / (1 + Number(callSeconds)), Number(slots) * Math.min(rcu, Number(fullPage)) / Number(roundTrip));
  const seconds = Number(startSeconds) + Number(sizeBytes) / (Number(bytesPerRcu) * rate);
  estimate.textContent = formatDuration(seconds);
}
document.addEventListener("input", (event) => { if (event.target.matches("[data-rcu-input]")) syncRcu(); });
document.addEventListener("DOMContentLoaded", syncRcu);
// The phone's menu: the nav folds behind one button once this script runs (CSS: .js .topbar nav).
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector(".menu-button");
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    document.body.classList.toggle("menu-open", open);
  });
});
// Flash messages: a page that polls is never reloaded, so a confirmation would stay forever. Each message
// gets a close button; a success fades after ten seconds (errors and warnings stay until closed).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".messages .message").forEach((message) => {
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link dismiss";
    close.setAttribute("aria-label", "Dismiss this message");
    close.textContent = "×";
    close.addEventListener("click", () => message.remove());
    message.append(close);
    if (message.classList.contains("success")) setTimeout(() => message.remove(), 10000);
  });
});
