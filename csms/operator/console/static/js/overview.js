// The first page: the fleet at a glance (chargers, EVSEs, sessions, power, energy today), roaming health, faults.
import { get, items } from "./api.js";
import { follow } from "./live.js";
import { age, badge, coalesce, h, power, time } from "./view.js";

const POLL = 5000; // power and deliveries move without events: looked at again this often

const tile = (metric, label, value, extra) => h("article", { class: "card tile", dataset: { metric } },
  h("div", { class: "tile-value" }, value), h("div", { class: "tile-label" }, label), extra || "");

export async function show(main, shell) {
  const tiles = h("div", { class: "tiles", id: "overview-tiles" });
  const evses = h("p", { class: "evse-counts", id: "overview-evses" });
  const partners = h("tbody", { id: "overview-partners" });
  const faults = h("tbody", { id: "overview-faults" });
  const security = h("tbody", { id: "overview-security" });
  const head = (...cells) => h("thead", {}, h("tr", {}, cells.map(([text, cls]) => h("th", cls ? { class: cls } : {}, text))));
  main.replaceChildren(h("section", { id: "overview" }, h("h1", {}, "Overview"), tiles,
    h("h2", {}, "EVSEs by status"), evses,
    h("h2", {}, "Roaming partners"),
    h("div", { class: "table-wrap" }, h("table", {}, head(["Partner"], ["State"], ["Pending"], ["Failed"],
      ["Oldest pending"], ["Last error", "wide"]), partners)),
    h("h2", {}, "Recent faults"),
    h("div", { class: "table-wrap" }, h("table", {}, head(["Charger / EVSE"], ["Status"], ["Error"], ["Since", "wide"]), faults)),
    h("h2", {}, "Security events"),
    h("div", { class: "table-wrap" }, h("table", {}, head(["Charger"], ["Event"], ["Received", "wide"]), security))));

  const empty = (columns, text) => h("tr", {}, h("td", { colspan: columns, class: "muted" }, text));
  const charger = (id) => h("a", { href: `#/chargers/${encodeURIComponent(id)}` }, id);
  const load = async () => {
    const [o, roaming] = await Promise.all([get("/overview"), items("/partners")]);
    const c = o.chargers;
    tiles.replaceChildren(
      tile("chargers", "chargers", String(c.total), h("div", { class: "tile-parts small" },
        h("a", { href: "#/chargers", class: "part", dataset: { metric: "online" } }, h("b", {}, String(c.online)), " online"), " · ",
        h("span", { class: "part", dataset: { metric: "offline" } }, h("b", {}, String(c.offline)), " offline"), " · ",
        h("span", { class: `part${c.faulted ? " error" : ""}`, dataset: { metric: "faulted" } }, h("b", {}, String(c.faulted)), " faulted"))),
      tile("sessions", h("a", { href: "#/sessions" }, "active sessions"), String(o.sessions.active)),
      tile("power", "drawn now", power(o.power_w)),
      tile("energy", `charged today (since ${o.since.slice(11, 16)} UTC)`, `${(o.energy_today_wh / 1000).toFixed(1)} kWh`));
    const statuses = Object.entries(o.evses).sort((a, b) => b[1] - a[1]);
    evses.replaceChildren(...(statuses.length ? statuses.map(([status, n]) =>
      h("span", { class: `badge s-${status}`, dataset: { status } }, h("b", {}, String(n)), ` ${status}`))
      : [h("span", { class: "muted" }, "No EVSEs yet.")]));
    partners.replaceChildren(...(roaming.length ? roaming.map((p) => {
      const problem = p.waiting?.error_words || p.last_failed?.error_words;
      return h("tr", { dataset: { partner: p.partner } },
        h("td", {}, h("a", { href: `#/roaming/${encodeURIComponent(p.partner)}` }, p.name)),
        h("td", {}, badge(p.state, { class: `badge link-state s-${p.state}` })),
        h("td", { class: "pending" }, String(p.outbox.pending)),
        h("td", { class: `failed${p.outbox.failed ? " error" : ""}` }, String(p.outbox.failed)),
        h("td", { class: "oldest" }, p.waiting ? age(p.waiting.created_at) : "—"),
        h("td", { class: "wide error small" }, problem || ""));
    }) : [empty(6, "No roaming partner.")]));
    faults.replaceChildren(...(o.faults.length ? o.faults.map((f) => h("tr", { dataset: { charger: f.charge_point_id, evse: f.evse_number } },
      h("td", {}, charger(f.charge_point_id), f.evse_number ? ` / EVSE ${f.evse_number}` : " (the whole charger)"),
      h("td", {}, badge(f.status)), h("td", {}, f.error_code || "—"), h("td", { class: "wide" }, time(f.status_at))))
      : [empty(4, "No faults.")]));
    security.replaceChildren(...(o.security_events.length ? o.security_events.map((e) => h("tr", {},
      h("td", {}, charger(e.charge_point_id)), h("td", {}, e.type || "—", e.tech_info ? h("div", { class: "muted small" }, e.tech_info) : ""),
      h("td", { class: "wide" }, time(e.received_at))))
      : [empty(3, "No security events.")]));
  };
  const reload = coalesce(() => load().catch(() => null), 500);
  const polling = setInterval(reload, POLL);
  await load();
  follow({}, { ready: reload, domain: reload, unauthorized: shell.unauthorized });
  return () => clearInterval(polling);
}
