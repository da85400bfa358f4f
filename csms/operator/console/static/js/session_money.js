// A session's roaming ids and the CDRs sent for it, with their delivery state.
import { badge, h, money, time } from "./view.js";

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

// Each CDR kept for the session (credits and corrected ones too) with its delivery; an OCPI CDR
// not yet credited has its credit buttons (operators: OICP has no credit CDRs).
export function cdrTable(cdrs, name, credit) {
  if (!cdrs.length) return h("p", { class: "muted" }, "No CDR sent (only roaming sessions have one, once ended).");
  const credited = new Set(cdrs.filter((c) => c.credit).map((c) => c.credit_reference_id));
  const kind = (c) => c.credit ? `credit of ${c.credit_reference_id}` : c.reissue_of ? `corrects ${c.reissue_of}` : "";
  const cost = (c) => c.total_cost ? money(c.total_cost.incl_vat ?? c.total_cost.excl_vat, c.currency) : "—";
  const actions = (c) => c.protocol !== "ocpi" || c.credit || credited.has(c.id) ? "" : h("span", { class: "cdr-actions" },
    h("button", { type: "button", class: "cdr-credit danger", dataset: { needs: "operator" }, onclick: () => credit(c, false) }, "Credit"), " ",
    h("button", { type: "button", class: "cdr-reissue", dataset: { needs: "operator" }, onclick: () => credit(c, true) }, "Credit and reissue"));
  return h("div", { class: "table-wrap" }, h("table", { class: "cdrs" },
    h("thead", {}, h("tr", {}, ["CDR", "Partner", "Cost", "State", "Queued", "Delivered / last error", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, cdrs.map((c) => h("tr", { dataset: { id: c.id, status: c.status || "", credit: c.credit ? "true" : "false" } },
      h("td", {}, h("code", {}, c.id), kind(c) ? h("span", { class: "muted small" }, ` (${kind(c)})`) : "",
        c.message_id ? h("span", { class: "small" }, " ", h("a", { href: `#/roaming/${encodeURIComponent(c.partner)}?status=${c.status}` }, `#${c.message_id}`)) : ""),
      h("td", {}, name(c.partner)), h("td", { class: "cdr-cost" }, cost(c)),
      h("td", {}, badge(c.status || "kept", { class: `badge cdr-status s-${c.status}` })),
      h("td", {}, time(c.created_at)),
      h("td", { class: c.last_error ? "error small" : "small" }, c.delivered_at ? time(c.delivered_at)
        : c.last_error ? `${c.error_words || c.last_error} (attempt ${c.attempts})` : "waiting"),
      h("td", {}, actions(c)))))));
}
