// Sessions, active or finished: energy, duration, token or EvcoID, roaming partner.
import { get, items as listed } from "./api.js";
import { follow } from "./live.js";
import { badge, coalesce, duration, energy, h, partnerOf, time } from "./view.js";

const PAGE = 50;
const MAX_LIMIT = 1000;
const VIEWS = { active: "Active", completed: "Finished", "": "All" };

export async function show(main, shell) {
  let view = sessionStorage.getItem("sessions-view") ?? "active";
  let limit = PAGE;
  const rows = h("tbody", { id: "sessions" });
  const more = h("button", { type: "button", class: "quiet", id: "more" }, "More");
  const tabs = h("div", { class: "tabs", role: "tablist" }, Object.entries(VIEWS).map(([value, label]) =>
    h("button", { type: "button", role: "tab", dataset: { view: value }, onclick: () => {
      view = value; limit = PAGE; sessionStorage.setItem("sessions-view", view); load();
    } }, label)));
  main.replaceChildren(h("section", {}, h("h1", {}, "Sessions"), tabs,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Charger / EVSE"), h("th", {}, "Token / EvcoID"),
        h("th", { class: "wide" }, "Partner"), h("th", {}, "Energy"), h("th", { class: "wide" }, "Duration"), h("th", { class: "status" }, "Status"))),
      rows)), more));
  more.addEventListener("click", () => { limit += PAGE; load(); });

  let items = [];
  let names = null;
  let total = 0;
  const render = () => {
    for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.view === view));
    rows.replaceChildren(...items.map((s) => h("tr", { dataset: { id: s.id, status: s.status } },
      h("td", {}, h("a", { href: `#/sessions/${s.id}` }, time(s.started_at || s.requested_at || s.created_at))),
      h("td", {}, h("a", { href: `#/chargers/${encodeURIComponent(s.charge_point_id)}` }, s.charge_point_id), ` / ${s.evse_number}`),
      h("td", { class: "token" }, s.token_uid || "—"),
      h("td", { class: "wide" }, partnerOf(s, names) || "—"),
      h("td", {}, energy(s.energy_wh)),
      h("td", { class: "wide" }, duration(s.started_at, s.stopped_at)),
      h("td", { class: "status" }, badge(s.status)))));
    if (!items.length) rows.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No sessions.")));
    more.hidden = items.length >= total || limit >= MAX_LIMIT; // the API's largest page
  };
  const load = async () => {
    const query = new URLSearchParams({ limit });
    if (view) query.set("status", view);
    ({ items, total } = await get(`/sessions?${query}`));
    if (!names && items.some((s) => s.attributes?.ocpi)) {  // OCPI partners by their business names
      names = new Map((await listed("/partners").catch(() => [])).map((p) => [p.partner, p.name]));
    }
    render();
  };
  const reload = coalesce(() => load().catch(() => null), 500);
  const domain = (event) => {
    if (["session_started", "session_ended", "meter"].includes(event.type)) reload();
  };
  const ticking = setInterval(render, 5000); // durations of active sessions move on
  await load();
  follow({}, { ready: reload, domain, unauthorized: shell.unauthorized });
  return () => clearInterval(ticking);
}
