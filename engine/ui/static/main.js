// Entry point: shows the page the URL names (search or alerts), keeps the nav and the token
// indicator current, and the keyboard: `/` focuses the query, Esc closes what is open.

import { forgetToken, onTokenChange, token } from "./api.js";
import { AlertsPage } from "./alerts.js";
import { SearchPage } from "./search.js";
import * as state from "./state.js";

const root = document.getElementById("page");
let page = null;
let view = null;

function showToken(t) {
  document.getElementById("who").hidden = !t;
}

function navigate(s) {
  if (view !== s.view) {
    if (page) page.leave();
    view = s.view;
    page = view === "alerts" ? new AlertsPage(root) : new SearchPage(root);
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
    document.title = view === "alerts" ? "Alerts · logjet" : "logjet";
  }
  page.run(s);
}

// Nav links change the view without reloading the page.
for (const a of document.querySelectorAll("nav a")) {
  a.addEventListener("click", (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    state.update({ view: a.dataset.view });
  });
}

document.getElementById("forget-token").addEventListener("click", () => forgetToken());
onTokenChange(showToken);
showToken(token());

document.addEventListener("keydown", (e) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? "");
  if (e.key === "/" && !typing && view === "search") {
    e.preventDefault();
    page.focus();
  } else if (e.key === "Escape" && !document.querySelector("dialog[open]")) {
    if (page && page.escape && page.escape()) e.preventDefault();
    else if (typing) document.activeElement.blur();
  }
});

state.onChange(navigate);
navigate(state.read());
