// One session: its facts, a stop button while active, and energy and power drawn from its meter values.
import { allItems, call, get, items } from "./api.js";
import { drawChart } from "./chart.js";
import { follow } from "./live.js";
import { roamingFacts, cdrTable } from "./session_money.js";
import { badge, coalesce, duration, energy, h, money, partnerOf, time } from "./view.js";

const ENERGY = "Energy.Active.Import.Register";
const POWER = "Power.Active.Import";

export async function show(main, shell, id) {
  const facts = h("dl", { class: "facts-list", id: "session-facts" });
  const chart = h("figure", { class: "chart-box", id: "chart" });
  const cdrs = h("div", { id: "cdrs" });
  const outcome = h("p", { class: "outcome", role: "status" });
  const stop = h("button", { type: "button", class: "danger", id: "stop", hidden: true, dataset: { needs: "operator" } }, "Stop session");
  main.replaceChildren(h("section", {},
    h("p", { class: "crumbs" }, h("a", { href: "#/sessions" }, "Sessions"), " / "),
    h("h1", {}, "Session"), facts, h("div", { class: "actions" }, stop), outcome,
    h("h2", {}, "Energy and power"), chart,
    h("h2", {}, "CDRs sent"), cdrs,
    h("p", { class: "legend small" }, h("span", { class: "key energy" }, "energy charged (kWh)"), " ",
      h("span", { class: "key power" }, "power (kW)"))));
  stop.addEventListener("click", async () => {
    outcome.textContent = "Stopping: waiting for the charger…";
    const answer = await call(`/sessions/${id}/stop`, { method: "POST" });
    outcome.className = `outcome ${answer.ok ? "ok" : "bad"}`;
    outcome.textContent = `Stop: ${answer.data?.outcome || answer.data?.error || answer.status}`;
  });

  // A CDR is immutable once sent: a correction is its credit CDR, and maybe a corrected one.
  const creditCdr = async (cdr, reissue) => {
    const what = reissue ? "credit it and send the session's CDR again, costed afresh" : "credit it (its costs negated)";
    if (!window.confirm(`CDR ${cdr.id}: ${what}? This cannot be undone.`)) return;
    const answer = await call(`/cdrs/${encodeURIComponent(cdr.id)}/credit`, { method: "POST", body: { reissue } });
    outcome.className = `outcome ${answer.ok ? "ok" : "bad"}`;
    outcome.textContent = answer.ok
      ? `Queued: credit CDR ${answer.data.credit.id}${answer.data.reissue ? ` and corrected CDR ${answer.data.reissue.id}` : ""}`
      : `Credit of ${cdr.id} refused: ${answer.data?.error || answer.status}`;
    await loadFacts().catch(() => null);
  };
  let session = null;
  let partners = [];
  let delivering = false; // a CDR of this session waits for its delivery: looked at again
  const loadFacts = async () => {
    let details;
    [session, details] = await Promise.all([get(`/sessions/${id}`), get(`/sessions/${id}/details`)]);
    if (!partners.length && (session.attributes?.oicp || session.attributes?.ocpi)) partners = await items("/partners").catch(() => []);
    const name = (key) => partners.find((p) => p.partner === key)?.name || key;
    const cost = details.cost;
    const fact = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
    facts.replaceChildren(
      ...fact("Status", badge(session.status)),
      ...fact("Charger / EVSE", h("span", {}, h("a", { href: `#/chargers/${encodeURIComponent(session.charge_point_id)}` }, session.charge_point_id),
        ` / EVSE ${session.evse_number}${session.evse_id ? ` (${session.evse_id})` : ""}`)),
      ...fact("Token / EvcoID", session.token_uid || "—"),
      ...fact("Roaming partner", partnerOf(session, new Map(partners.map((p) => [p.partner, p.name]))) || "—"),
      ...roamingFacts(details.roaming, fact),
      ...fact("Started", time(session.started_at)),
      ...fact("Stopped", time(session.stopped_at)),
      ...fact("Duration", duration(session.started_at, session.stopped_at)),
      ...fact("Energy", energy(session.energy_wh)),
      ...fact(cost && !cost.final ? "Cost so far" : "Cost", h("span", { id: "session-cost" }, cost
        ? money(cost.total_cost?.incl_vat ?? cost.total_cost?.excl_vat, cost.currency) + (cost.total_cost?.incl_vat !== undefined ? " incl. VAT" : "")
        : "— (no tariff applies)")),
      ...fact("Tariff", h("span", { id: "session-tariff" }, cost ? `${cost.tariff_id || "—"}${cost.product_id ? ` (product ${cost.product_id})` : ""} — from the ${cost.source}` : "—")),
      ...fact("Stop reason", session.stop_reason || "—"),
      ...fact("Transaction", session.transaction_id || "—"));
    stop.hidden = session.status !== "active";
    cdrs.replaceChildren(cdrTable(details.cdrs, name, creditCdr));
    delivering = details.cdrs.some((c) => c.status === "pending");
  };
  const loadChart = async () => {
    const samples = await allItems(`/sessions/${id}/meter-values`);
    const whole = (s) => !s.phase && (!s.location || s.location === "Outlet");
    const start = session?.meter_start_wh ?? samples.find((s) => s.measurand === ENERGY && whole(s))?.value ?? 0;
    // From the session's start (not its first sample), drawn at the box's own width: labels at their real size.
    chart.replaceChildren(drawChart({
      energy: samples.filter((s) => s.measurand === ENERGY && whole(s)).map((s) => [new Date(s.sampled_at), (s.value - start) / 1000]),
      power: samples.filter((s) => s.measurand === POWER && whole(s)).map((s) => [new Date(s.sampled_at), s.value / 1000]),
    }, { start: session?.started_at ? new Date(session.started_at) : null, width: chart.clientWidth - 16 }));
  };
  const load = async () => { await loadFacts(); await loadChart(); };
  const reload = coalesce(() => load().catch(() => null), 500);
  const domain = (event) => { if (event.session_id === id) reload(); };
  const ticking = setInterval(() => (session?.status === "active" || delivering) && loadFacts().catch(() => null), 5000);
  await load();
  follow({ session: id }, { ready: reload, domain, unauthorized: shell.unauthorized });
  return () => clearInterval(ticking);
}
