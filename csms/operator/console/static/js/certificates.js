// The certificates a charger holds, as it last reported or accepted them, and a button to ask it again.
import { call, get, items } from "./api.js";
import { h, time } from "./view.js";

export function certificatesPanel(path) {
  const rows = h("tbody", { id: "certificates" });
  const refresh = h("button", { type: "button", id: "certificates-refresh", dataset: { needs: "operator" } }, "Ask the charger");
  const load = async () => {
    const held = await items(`${path}/certificates`);
    rows.replaceChildren(...(held.length ? held.map((c) => h("tr", { dataset: { type: c.certificate_type } },
      h("td", {}, c.certificate_type),
      h("td", {}, h("code", {}, c.serial_number)),
      h("td", { class: "muted small" }, time(c.updated_at))))
      : [h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No certificates known."))]));
  };
  refresh.addEventListener("click", async () => { await call(`${path}/certificates/refresh`, { method: "POST" }); load().catch(() => null); });
  load().catch(() => null);
  return {
    element: h("div", {}, h("h2", {}, "Certificates"),
      h("table", { class: "certificates" }, h("thead", {}, h("tr", {}, ["Type", "Serial", "Known since"].map((c) => h("th", {}, c)))), rows),
      h("div", { class: "actions" }, refresh)),
    reload: load,
  };
}
