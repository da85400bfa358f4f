// A charger's charging profiles with its answers, setting and clearing them, and an EVSE's composite
// schedule as the charger computes it, drawn against what the load manager intends it to draw.
import { call, get, items } from "./api.js";
import { drawSteps } from "./chart.js";
import { badge, h, time } from "./view.js";

const PURPOSES = ["TxDefault", "Tx", "ChargePointMax"];
const TOLERANCE = 0.05; // A: the charger rounds to tenths

const number = (name, value, label, extra = {}) =>
  h("label", {}, label, h("input", { type: "number", name, value, step: "any", required: true, ...extra }));
const choice = (name, options, label) =>
  h("label", {}, label, h("select", { name }, options.map((o) => h("option", { value: o }, o))));

function limits(profile) {
  return profile.periods.map((p) => `${p.start} s: ${p.limit} ${profile.unit}`).join(", ");
}

export function chargingPanel(path) {
  const rows = h("tbody", { id: "profiles" });
  const outcome = h("p", { class: "outcome", id: "charging-outcome", role: "status" });
  const periods = h("div", { class: "periods" });
  const addPeriod = (start, limit) => periods.append(h("span", { class: "period" },
    number("start", start, "from (s)", { min: 0, step: 1 }), number("limit", limit, "limit", { min: 0 })));
  addPeriod(0, 16);
  const form = h("form", { class: "profile-form", id: "profile-form", dataset: { needs: "operator" } },
    number("evse", 1, "EVSE", { min: 0, step: 1 }), number("id", 1, "profile id", { min: 1, step: 1 }),
    choice("purpose", PURPOSES, "purpose"), number("stack_level", 0, "stack level", { min: 0, step: 1 }),
    choice("unit", ["A", "W"], "unit"), choice("kind", ["Absolute", "Relative"], "kind"), periods,
    h("button", { type: "button", id: "add-period", onclick: () => addPeriod("", "") }, "+ period"),
    h("button", { type: "submit", id: "set-profile" }, "Set profile"));
  const json = h("textarea", { id: "profile-json", "aria-label": "Profile as JSON", spellcheck: "false",
    placeholder: '{"evse": 1, "profile": {"id": 1, "stack_level": 0, "purpose": "TxDefault", "unit": "A", "periods": [{"start": 0, "limit": 16}]}}' });
  const jsonBox = h("details", { class: "profile-json", dataset: { needs: "operator" } }, h("summary", {}, "…or as JSON (checked by the server)"), json,
    h("div", { class: "actions" }, h("button", { type: "button", id: "set-json", onclick: () => {
      let body;
      try { body = JSON.parse(json.value); } catch (error) { show(false, `Not JSON: ${error.message}`); return; }
      send(body);
    } }, "Set from JSON")));

  const show = (ok, text) => { outcome.className = `outcome ${ok ? "ok" : "bad"}`; outcome.textContent = text; };
  const answered = async (label, promise) => {
    outcome.className = "outcome busy";
    outcome.textContent = `${label}: waiting for the charger…`;
    const answer = await promise;
    const reason = answer.data?.detail?.reason || answer.data?.detail?.status || "";
    show(answer.ok, `${label}: ${answer.data?.outcome || answer.data?.error || `HTTP ${answer.status}`}${reason ? ` (${reason})` : ""}`);
    load().catch(() => null);
  };
  const send = (body) => answered("Set profile", call(`${path}/charging-profiles`, { method: "POST", body }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (name) => form.querySelector(`[name="${name}"]`).value;
    const spans = [...periods.querySelectorAll(".period")];
    send({ evse: Number(value("evse")), profile: {
      id: Number(value("id")), stack_level: Number(value("stack_level")), purpose: value("purpose"),
      unit: value("unit"), kind: value("kind"),
      periods: spans.filter((s) => s.querySelector('[name="limit"]').value !== "").map((s) => ({
        start: Number(s.querySelector('[name="start"]').value), limit: Number(s.querySelector('[name="limit"]').value) })) } });
  });

  const load = async () => {
    const profiles = await items(`${path}/charging-profiles`);
    rows.replaceChildren(...(profiles.length ? profiles.map((p) => h("tr", { dataset: { profile: p.profile.id, evse: p.evse } },
      h("td", {}, String(p.evse)), h("td", {}, `#${p.profile.id}`), h("td", {}, p.profile.purpose),
      h("td", {}, String(p.profile.stack_level)), h("td", { class: "small" }, limits(p.profile)),
      h("td", {}, badge(p.status, { class: `badge profile-status s-${p.status.toLowerCase()}` }),
        p.detail && p.detail !== p.status ? h("span", { class: "muted small" }, ` ${p.detail}`) : ""),
      h("td", { class: "muted small wide" }, time(p.updated_at)),
      h("td", {}, h("button", { type: "button", class: "clear danger", dataset: { needs: "operator" }, onclick: () =>
        answered(`Clear #${p.profile.id}`, call(`${path}/charging-profiles/clear`, { method: "POST", body: { id: p.profile.id } })) }, "Clear"))))
      : [h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No charging profiles sent."))]));
  };

  // The composite schedule of one EVSE, asked of the charger on demand (it is a call to it).
  const evse = h("input", { type: "number", id: "composite-evse", class: "evse-number", value: 1, min: 0, step: 1, "aria-label": "EVSE" });
  const hours = h("select", { id: "composite-hours", "aria-label": "Hours" }, [1, 6, 24].map((n) => h("option", { value: n }, `${n} h`)));
  const chart = h("figure", { class: "chart-box", id: "composite" });
  const verdict = h("p", { id: "composite-verdict", role: "status" });
  const composite = async () => {
    const n = Number(evse.value);
    verdict.className = "muted";
    verdict.textContent = "Asking the charger…";
    const [answer, allowances] = await Promise.all([
      call(`${path}/composite-schedule?evse=${n}&duration=${Number(hours.value) * 3600}&unit=A`),
      items(`${path}/allowances`)]);
    const schedule = answer.data?.detail?.schedule;
    if (!answer.ok || !schedule) {
      chart.replaceChildren();
      verdict.className = "error";
      verdict.textContent = `Composite schedule: ${answer.data?.outcome || answer.data?.error || `HTTP ${answer.status}`}`;
      return;
    }
    const start = new Date(schedule.starts_at || Date.now());
    const end = new Date(+start + (schedule.duration || Number(hours.value) * 3600) * 1000);
    const reported = schedule.periods.map((p) => [new Date(+start + p.start * 1000), p.limit]);
    if (reported.length) reported.push([end, reported.at(-1)[1]]);
    const intended = allowances.find((a) => a.evse === n)?.amps ?? null;
    const lines = [{ cls: "reported", label: "reported by the charger", data: reported }];
    if (intended !== null) lines.push({ cls: "intended", label: "intended by the load manager", data: [[start, intended], [end, intended]] });
    const now = reported.length ? reported[0][1] : null;
    // Asked in A; a charger that answers in W anyway is not compared (its voltage is its own).
    const amps = (schedule.unit || "A") === "A";
    const differs = amps && intended !== null && now !== null && Math.abs(now - intended) > TOLERANCE;
    chart.replaceChildren(drawSteps({ lines, unit: schedule.unit || "A",
      marks: differs ? [{ at: start, text: `mismatch: ${now} A ≠ ${intended} A` }] : [] }));
    verdict.className = differs ? "mismatch" : "muted";
    verdict.textContent = !amps ? `The charger answered in ${schedule.unit}, not A: not compared with the ${intended ?? "—"} A intended.`
      : intended === null ? `The load manager does not manage EVSE ${n}; the charger allows ${now ?? "—"} A now.`
      : differs ? `Mismatch: the charger allows ${now} A now, the load manager intends ${intended} A.`
        : `As intended: ${intended} A now.`;
  };
  const ask = h("button", { type: "button", id: "composite-ask", dataset: { needs: "operator" }, onclick: () => composite().catch((error) => {
    verdict.className = "error"; verdict.textContent = String(error.message || error);
  }) }, "Ask the charger");

  load().catch(() => null);
  return {
    element: h("div", { id: "charging" }, h("h2", {}, "Charging profiles"),
      h("div", { class: "table-wrap" }, h("table", { class: "profiles" }, h("thead", {}, h("tr", {},
        ["EVSE", "Profile", "Purpose", "Stack", "Limits", "Charger said", "When", ""].map((c, i) => h("th", { class: i === 6 ? "wide" : undefined }, c)))), rows)),
      form, jsonBox, outcome,
      h("h2", {}, "Composite schedule"),
      h("div", { class: "actions" }, evse, hours, ask), chart, verdict,
      h("p", { class: "legend small" }, h("span", { class: "key reported" }, "reported by the charger (A)"), " ",
        h("span", { class: "key intended" }, "intended by the load manager (A)"))),
    reload: load,
  };
}
