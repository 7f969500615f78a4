// Tabs of the combined view: one panel at a time, in the same window, reachable by keyboard.
// Without JavaScript every panel is simply shown one below the other.
document.addEventListener("DOMContentLoaded", () => {
  const tabs = Array.from(document.querySelectorAll('.tabs [role="tab"]'));
  if (!tabs.length) return;
  document.documentElement.classList.add("js");

  function select(tab, focus) {
    tabs.forEach((t) => {
      const selected = t === tab;
      t.setAttribute("aria-selected", selected ? "true" : "false");
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    });
    if (focus) tab.focus();
    history.replaceState(null, "", "#" + tab.getAttribute("aria-controls"));
  }

  tabs.forEach((tab, i) => {
    tab.addEventListener("click", (event) => { event.preventDefault(); select(tab, false); });
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) { event.preventDefault(); select(tabs[(i + step + tabs.length) % tabs.length], true); }
    });
  });
  const fromHash = tabs.find((t) => "#" + t.getAttribute("aria-controls") === location.hash);
  select(fromHash || tabs[0], false);
});

// Reveal one masked value on request (audited on the server); the clear value is fetched only now.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.reveal");
  if (!button) return;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  button.disabled = true;
  const response = await fetch(button.dataset.url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": token },
    body: JSON.stringify({ system: button.dataset.system, field: button.dataset.field }),
  });
  const body = await response.json();
  const cell = button.closest("dd");
  if (response.ok) {
    cell.textContent = body.value === null ? "—" : body.value;
  } else {
    button.disabled = false;
    button.title = body.detail || "could not reveal";
  }
});
