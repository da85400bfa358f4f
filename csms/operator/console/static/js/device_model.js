// A 2.0.1 charger's device model on its page: the inventory (filtered by component), its monitors and events.
import { allItems, call, items } from "./api.js";
import { h, time } from "./view.js";

const where = (v) => [v.component + (v.component_instance ? `[${v.component_instance}]` : ""),
  v.evse_id ? `${v.evse_id}${v.connector_id ? `.${v.connector_id}` : ""}` : null,
  v.variable + (v.variable_instance ? `[${v.variable_instance}]` : "")].filter(Boolean).join(" / ");

export function panel(path) {
  const filter = h("input", { type: "search", id: "dm-filter", placeholder: "Component", "aria-label": "Filter by component" });
  const state = h("p", { class: "muted small", id: "dm-state" });
  const inventory = h("tbody", { id: "dm-inventory" });
  const monitors = h("ul", { id: "dm-monitors" });
  const events = h("ul", { id: "dm-events" });
  const report = h("button", { type: "button", id: "dm-report", dataset: { needs: "operator" } }, "Request full report");

  const load = async () => {
    const component = filter.value.trim();
    const [variables, found, seen, requests] = await Promise.all([
      allItems(`${path}/device-model${component ? `?component=${encodeURIComponent(component)}` : ""}`),
      items(`${path}/monitors`), items(`${path}/device-events?limit=20`), items(`${path}/device-model/requests?limit=1`)]);
    const last = requests[0];
    state.textContent = last ? `${variables.length} variables; last request ${last.kind} ${last.status} (${last.parts} parts)` : "No report yet.";
    inventory.replaceChildren(...variables.map((v) => h("tr", { dataset: { component: v.component, variable: v.variable } },
      h("td", {}, where(v)),
      h("td", { class: "value" }, v.attributes.map((a) => `${a.type}: ${a.value ?? "—"}`).join(", ")),
      h("td", { class: "muted small" }, v.characteristics?.unit || ""))));
    monitors.replaceChildren(...found.map((m) => h("li", { dataset: { monitor: m.id } },
      `#${m.id} ${where(m)}: ${m.type} ${m.value} (severity ${m.severity})`)));
    events.replaceChildren(...seen.map((e) => h("li", {}, `${time(e.occurred_at)} ${where(e)}: ${e.trigger} ${e.actual_value}`)));
  };
  const refresh = () => load().catch((error) => { state.textContent = String(error.message || error); });
  report.addEventListener("click", async () => {
    const answer = await call(`${path}/device-model/report`, { method: "POST", body: { base: "FullInventory" } });
    state.textContent = `Full report: ${answer.data?.outcome || answer.data?.error}`;
    // The parts come after the charger's answer: look again as they arrive.
    for (const wait of [500, 1500, 4000]) setTimeout(refresh, wait);
  });
  filter.addEventListener("input", refresh);
  refresh();
  return h("section", { id: "device-model" },
    h("h2", {}, "Device model"), h("div", { class: "actions" }, report, filter), state,
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Variable"), h("th", {}, "Attributes"), h("th", {}, "Unit"))), inventory),
    h("h3", {}, "Monitors"), monitors, h("h3", {}, "Events"), events);
}
