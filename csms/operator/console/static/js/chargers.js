// The chargers list: connection state, protocol, vendor/model/firmware, EVSE statuses, last seen; filters.
import { allItems } from "./api.js";
import { follow } from "./live.js";
import { badge, coalesce, h, time } from "./view.js";

const SHOWN = 500; // rows drawn at most: a fleet of thousands is narrowed with the filters

export async function show(main, shell) {
  const chargers = new Map();
  const text = h("input", { type: "search", id: "filter-text", placeholder: "Id, vendor, model, firmware" });
  const state = h("select", { id: "filter-state" },
    h("option", { value: "" }, "Any state"), h("option", { value: "online" }, "Online"),
    h("option", { value: "offline" }, "Offline"));
  const protocol = h("select", { id: "filter-protocol" },
    h("option", { value: "" }, "Any protocol"), h("option", { value: "ocpp1.6" }, "OCPP 1.6"),
    h("option", { value: "ocpp2.0.1" }, "OCPP 2.0.1"));
  const evseStatus = h("select", { id: "filter-status" }, h("option", { value: "" }, "Any EVSE status"),
    ...["available", "charging", "occupied", "reserved", "unavailable", "faulted", "unknown"]
      .map((s) => h("option", { value: s }, s)));
  const count = h("p", { class: "muted", id: "charger-count" });
  const rows = h("tbody", { id: "chargers" });
  const table = h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Charger"), h("th", {}, "State"), h("th", { class: "wide" }, "Protocol"),
      h("th", { class: "wide" }, "Vendor / model"), h("th", { class: "wide" }, "Firmware"), h("th", {}, "EVSEs"),
      h("th", { class: "wide" }, "Last seen"))),
    rows));
  main.replaceChildren(h("section", {}, h("h1", {}, "Chargers"),
    h("div", { class: "filters" }, text, state, protocol, evseStatus), count, table));

  const matches = (c) => {
    const needle = text.value.trim().toLowerCase();
    if (needle && ![c.id, c.vendor, c.model, c.firmware_version].some((v) => (v || "").toLowerCase().includes(needle))) return false;
    if (state.value && (state.value === "online") !== c.connected) return false;
    if (protocol.value && c.protocol !== protocol.value) return false;
    if (evseStatus.value && !c.evses.some((e) => e.status === evseStatus.value)) return false;
    return true;
  };
  const row = (c) => h("tr", { dataset: { id: c.id } },
    h("td", {}, h("a", { href: `#/chargers/${encodeURIComponent(c.id)}` }, c.id)),
    h("td", {}, badge(c.connected ? "online" : "offline", { class: `badge state s-${c.connected ? "online" : "offline"}` })),
    h("td", { class: "wide" }, c.protocol || "—"),
    h("td", { class: "wide" }, [c.vendor, c.model].filter(Boolean).join(" ") || "—"),
    h("td", { class: "wide" }, c.firmware_version || "—"),
    // The cell stays a table cell (its row aligned); its badges say which EVSE they are.
    h("td", { class: "evses" }, h("div", { class: "evse-list" }, c.evses.map((e) => h("span", {
      class: `badge evse s-${e.status}`, dataset: { evse: e.evse_number }, title: `EVSE ${e.evse_number} ${e.evse_id || ""}` },
    h("span", { class: "n" }, String(e.evse_number)), " ", e.status)))),
    h("td", { class: "wide" }, time(c.last_seen)));
  const render = () => {
    const shown = [...chargers.values()].filter(matches);
    rows.replaceChildren(...shown.slice(0, SHOWN).map(row));
    const online = [...chargers.values()].filter((c) => c.connected).length;
    count.textContent = `${chargers.size} chargers, ${online} online` +
      (shown.length > SHOWN ? ` — showing ${SHOWN} of ${shown.length} matching, narrow the filter` : "");
  };
  for (const input of [text, state, protocol, evseStatus]) input.addEventListener("input", render);

  const load = async () => {
    const list = await allItems("/charge-points");
    chargers.clear();
    for (const c of list) chargers.set(c.id, c);
    render();
  };
  const reload = coalesce(load, 500);
  const redraw = coalesce(render, 200);
  // Events patch the rows they concern; what they do not say (a new charger, new EVSEs) is reloaded.
  const domain = (event) => {
    const c = chargers.get(event.charge_point_id);
    if (!c) { if (event.charge_point_id) reload(); return; }
    const now = new Date().toISOString();
    if (event.type === "connected") Object.assign(c, { connected: true, protocol: event.protocol, last_seen: now });
    else if (event.type === "disconnected") Object.assign(c, { connected: false, last_seen: now });
    else if (event.type === "booted") Object.assign(c, { vendor: event.vendor, model: event.model, firmware_version: event.firmware_version, last_seen: now });
    else if (event.type === "evse_status") {
      const evse = c.evses.find((e) => e.evse_number === event.evse_number);
      if (!evse) { reload(); return; }
      evse.status = event.status;
      c.last_seen = now;
    } else if (event.type === "evse_data") { reload(); return; }
    redraw();
  };
  await load();
  follow({}, { ready: reload, domain, unauthorized: shell.unauthorized });
  return null;
}
