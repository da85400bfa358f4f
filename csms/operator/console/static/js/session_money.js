// A session's roaming ids and the CDRs sent for it, with their delivery state.
import { badge, h, time } from "./view.js";

export function roamingFacts(roaming, fact) {
  const facts = [];
  if (roaming?.oicp) {
    facts.push(...fact("OICP SessionID", h("code", { id: "oicp-session-id" }, roaming.oicp.session_id || "—")));
    facts.push(...fact("EvcoID", h("span", { id: "evco-id" }, roaming.oicp.evco_id || "—",
      roaming.oicp.provider_id ? h("span", { class: "muted" }, ` (provider ${roaming.oicp.provider_id})`) : "")));
  }
  if (roaming?.ocpi) {
    facts.push(...fact("OCPI token", h("span", { id: "ocpi-token" }, roaming.ocpi.token_uid || "—",
      roaming.ocpi.party ? h("span", { class: "muted" }, ` (party ${roaming.ocpi.party})`) : "")));
  }
  return facts;
}

export function cdrTable(cdrs, name) {
  if (!cdrs.length) return h("p", { class: "muted" }, "No CDR sent (only roaming sessions have one, once ended).");
  return h("div", { class: "table-wrap" }, h("table", { class: "cdrs" },
    h("thead", {}, h("tr", {}, ["#", "Partner", "State", "Queued", "Delivered / last error"].map((c) => h("th", {}, c)))),
    h("tbody", {}, cdrs.map((c) => h("tr", { dataset: { id: c.id, status: c.status } },
      h("td", {}, h("a", { href: `#/roaming/${encodeURIComponent(c.partner)}?status=${c.status}` }, `#${c.id}`)),
      h("td", {}, name(c.partner)), h("td", {}, badge(c.status, { class: `badge cdr-status s-${c.status}` })),
      h("td", {}, time(c.created_at)),
      h("td", { class: c.last_error ? "error small" : "small" }, c.delivered_at ? time(c.delivered_at)
        : c.last_error ? `${c.error_words || c.last_error} (attempt ${c.attempts})` : "waiting"))))));
}
