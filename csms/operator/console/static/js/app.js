// The console's shell: login, the hash router, one page module at a time.
import { call, Unauthorized } from "./api.js";
import { stopFollowing } from "./live.js";
import { h } from "./view.js";
import * as chargers from "./chargers.js";
import * as charger from "./charger.js";
import * as sessions from "./sessions.js";
import * as session from "./session.js";
import * as roaming from "./roaming.js";
import * as audit from "./audit.js";
import * as overview from "./overview.js";
import * as tariffs from "./tariffs.js";

const main = document.getElementById("main");
const routes = [
  [/^#\/overview$/, overview, "overview"],
  [/^#\/chargers\/(.+)$/, charger, "chargers"],
  [/^#\/chargers$/, chargers, "chargers"],
  [/^#\/sessions\/(.+)$/, session, "sessions"],
  [/^#\/sessions$/, sessions, "sessions"],
  [/^#\/roaming(?:\/(.+))?$/, roaming, "roaming"],
  [/^#\/audit$/, audit, "audit"],
  [/^#\/tariffs$/, tariffs, "tariffs"],
];
let leave = null;
let wanted = null; // where to go once logged in
let me = null; // who is logged in: name and role (the page hides what the role may not do)

// The server refuses what the role may not do; the page does not offer it: elements marked
// data-needs="operator" or "admin" are hidden by the stylesheet below that role.
async function whoami() {
  if (me) return me;
  const answer = await call("/me");
  if (!answer.ok) return null;
  me = answer.data;
  document.body.dataset.role = me.role;
  document.getElementById("whoami").textContent = `${me.name} (${me.role})`;
  return me;
}

function showLogin() {
  stopFollowing();
  if (leave) leave();
  leave = null;
  wanted = location.hash.startsWith("#/login") ? wanted : location.hash;
  me = null;
  delete document.body.dataset.role;
  document.body.classList.add("anonymous");
  const user = h("input", { type: "text", name: "user", id: "user", autocomplete: "username",
    placeholder: "empty: log in with api.token" });
  const input = h("input", { type: "password", name: "password", id: "token", autocomplete: "current-password",
    required: true, placeholder: "password or API token" });
  const message = h("p", { class: "error", id: "login-error" });
  const form = h("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    const name = user.value.trim();
    const answer = await call("/login", { method: "POST",
      body: name ? { user: name, password: input.value } : { token: input.value } });
    if (!answer.ok) {
      message.textContent = answer.data?.error || `HTTP ${answer.status}`;
      return;
    }
    document.body.classList.remove("anonymous");
    const target = wanted && !wanted.startsWith("#/login") ? wanted : "#/overview";
    if (location.hash === target) route();
    else location.hash = target; // hashchange routes
  } },
  h("h1", {}, "CSMS console"),
  h("label", { for: "user" }, "User name"), user,
  h("label", { for: "token" }, "Password (without a user name: the admin API token, api.token)"), input,
  h("button", { type: "submit" }, "Log in"), message);
  main.replaceChildren(form);
  user.focus();
}

async function route() {
  stopFollowing();
  if (leave) leave();
  leave = null;
  const hash = location.hash || "#/overview";
  for (const [pattern, page, section] of routes) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("#nav a")) {
      link.classList.toggle("current", link.dataset.page === section);
    }
    const args = match.slice(1).map((part) => part && decodeURIComponent(part));
    try {
      if (!(await whoami())) throw new Unauthorized();
      leave = await page.show(main, { unauthorized: showLogin }, ...args);
    } catch (error) {
      if (error instanceof Unauthorized) showLogin();
      else main.replaceChildren(h("p", { class: "error" }, String(error.message || error)));
    }
    return;
  }
  location.hash = "#/overview";
}

document.getElementById("logout").addEventListener("click", async () => {
  await call("/logout", { method: "POST" }).catch(() => null);
  showLogin();
});
window.addEventListener("hashchange", route);
// Unhandled 401s from a page's later fetches also lead to the login.
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason instanceof Unauthorized) {
    event.preventDefault();
    showLogin();
  }
});
route();
