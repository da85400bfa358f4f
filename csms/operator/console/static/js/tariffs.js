// Tariffs (read only): each current tariff's prices (with its currency), since when, and the EVSEs it is assigned to.
import { allItems } from "./api.js";
import { h, time } from "./view.js";

const UNIT = { ENERGY: "/kWh", TIME: "/h", PARKING_TIME: "/h parking", FLAT: " per session" };

// "0.39 EUR/kWh (17:00–21:00)": each element's prices, with the hours it applies if it says.
function prices(tariff) {
  return tariff.elements.map((element) => {
    const parts = element.price_components.map((c) => `${c.price} ${tariff.currency}${UNIT[c.type] || ` ${c.type}`}`);
    const r = element.restrictions || {};
    const when = r.start_time || r.end_time ? ` (${r.start_time || "00:00"}–${r.end_time || "24:00"})` : "";
    return parts.join(" + ") + when;
  });
}

function assigned(tariff) {
  if (!tariff.assignments.length) return "not assigned";
  return tariff.assignments.map((a) => `${a.evse_id === "*" ? "every EVSE" : a.evse_id}` +
    `${a.provider_id === "*" ? "" : ` for ${a.provider_id}`}`).join(", ");
}

export async function show(main) {
  const tariffs = await allItems("/tariffs");
  const rows = tariffs.map((t) => h("tr", { dataset: { tariff: t.id } },
    h("td", {}, t.id),
    h("td", { class: "small" }, prices(t.tariff).map((line) => h("div", {}, line))),
    h("td", { class: "small" }, assigned(t)),
    h("td", { class: "muted small" }, time(t.valid_from))));
  if (!rows.length) {
    rows.push(h("tr", {}, h("td", { colspan: 4, class: "muted" },
      "No tariffs yet: csms tariffs load FILE.json, or PUT /api/v1/tariffs/{id}.")));
  }
  main.replaceChildren(h("section", {}, h("h1", {}, "Tariffs"),
    h("div", { class: "table-wrap" }, h("table", { class: "tariffs" },
      h("thead", {}, h("tr", {}, ["Tariff", "Prices", "Assigned to", "Since"].map((c) => h("th", {}, c)))),
      h("tbody", { id: "tariffs" }, rows)))));
  return null;
}
