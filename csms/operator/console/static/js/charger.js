// One charger: its EVSEs and connectors live, the commands with their outcome, and its live OCPP log.
import { call, get, items } from "./api.js";
import { panel as deviceModel } from "./device_model.js";
import { follow } from "./live.js";
import { certificatesPanel } from "./certificates.js";
import { chargingPanel } from "./energy.js";
import { jobsPanel } from "./jobs.js";
import { localListPanel } from "./locallist.js";
import { outcomeWords } from "./outcomes.js";
import { badge, coalesce, duration, energy, h, money, power, time } from "./view.js";

const LOG_LINES = 500;

export async function show(main, shell, id) {
  const path = `/charge-points/${encodeURIComponent(id)}`;
  const head = h("div", { class: "facts", id: "charger-facts" });
  const evses = h("div", { class: "cards", id: "evses" });
  const outcome = h("p", { class: "outcome", id: "outcome", role: "status" });
  const log = h("ol", { class: "log", id: "ocpp-log" });
  const resetSoft = h("button", { type: "button", id: "reset-soft", dataset: { needs: "operator" } }, "Soft reset");
  const resetHard = h("button", { type: "button", class: "danger", id: "reset-hard", dataset: { needs: "operator" } }, "Hard reset");
  const wholeOff = h("button", { type: "button", id: "charger-inoperative", dataset: { needs: "operator" } }, "Make unavailable");
  const wholeOn = h("button", { type: "button", id: "charger-operative", dataset: { needs: "operator" } }, "Make available");
  // What the charger manages besides its EVSEs: reloaded when it reports on them.
  const localList = localListPanel(path);
  const jobs = jobsPanel(path);
  const certificates = certificatesPanel(path);
  const charging = chargingPanel(path);
  main.replaceChildren(h("section", {},
    h("p", { class: "crumbs" }, h("a", { href: "#/chargers" }, "Chargers"), " / "),
    h("h1", {}, id), head,
    h("div", { class: "actions" }, resetSoft, resetHard, wholeOff, wholeOn), outcome,
    h("h2", {}, "EVSEs"), evses, localList.element, jobs.element, certificates.element, charging.element,
    h("h2", {}, "OCPP messages ", h("span", { class: "muted small" }, "live, newest last")),
    h("div", { class: "log-wrap" }, log)));

  // A command's answer, whatever its HTTP status: the outcome is what the operator needs.
  const run = async (label, command, body) => {
    outcome.className = "outcome busy";
    outcome.textContent = `${label}: waiting for the charger…`;
    const answer = await call(command, { method: "POST", body });
    outcome.className = `outcome ${answer.ok ? "ok" : "bad"}`;
    outcome.textContent = `${label}: ${outcomeWords(answer)}`;
    reload();
  };
  resetSoft.addEventListener("click", () => run("Soft reset", `${path}/reset`, { hard: false }));
  resetHard.addEventListener("click", () => confirm(`Hard reset ${id}?`) && run("Hard reset", `${path}/reset`, { hard: true }));
  wholeOff.addEventListener("click", () => run("Charger unavailable", `${path}/availability`, { evse: 0, operative: false }));
  wholeOn.addEventListener("click", () => run("Charger available", `${path}/availability`, { evse: 0, operative: true }));

  // What fits the state: an offline charger takes no command; a charging EVSE no start nor unlock;
  // only the availability change that applies.
  const faultWords = (fault) => [
    fault?.vendorErrorCode ? ` — vendor ${fault.vendorId ? `${fault.vendorId} ` : ""}code ${fault.vendorErrorCode}` : "",
    fault?.info ? ` — “${fault.info}”` : ""];
  const STARTABLE = ["available", "preparing", "occupied", "reserved", "unknown"];
  const evseCard = (evse, active, online, live, fault) => {
    const n = evse.evse_number;
    const token = h("input", { type: "text", class: "token", placeholder: "Token", "aria-label": `Token for EVSE ${n}`, dataset: { evse: n } });
    const start = h("button", { type: "submit", class: "start", dataset: { evse: n } }, "Start");
    const form = h("form", { class: "start-form", dataset: { needs: "operator" }, onsubmit: (event) => {
      event.preventDefault();
      if (!token.value.trim()) { token.focus(); return; }
      run(`Start on EVSE ${n}`, `${path}/evses/${n}/start`, { token: token.value.trim() });
    } }, token, start);
    return h("article", { class: "card evse-card", dataset: { evse: n } },
      h("header", {}, h("strong", {}, `EVSE ${n}`), " ", badge(evse.status, { class: `badge evse-status s-${evse.status}` })),
      h("p", { class: "muted small" }, evse.evse_id || "no EvseID", evse.status_at ? ` — since ${time(evse.status_at)}` : ""),
      evse.error_code || fault ? h("p", { class: "fault" }, `Error ${evse.error_code || fault?.errorCode || ""}`, ...faultWords(fault)) : "",
      h("ul", { class: "connectors" }, evse.connectors.map((c) => h("li", { dataset: { connector: c.connector_number } },
        `Connector ${c.connector_number}: `, badge(c.status, { class: `badge connector-status s-${c.status}` }),
        c.ocpp_status ? h("span", { class: "muted small" }, ` (${c.ocpp_status})`) : ""))),
      active ? h("p", {}, "Session ", h("a", { href: `#/sessions/${active.id}` }, active.token_uid || active.id.slice(0, 8)),
        ` since ${time(active.started_at)}`) : "",
      active ? h("div", { class: "live-session", dataset: { session: active.id } },
        h("span", { class: "power" }, h("b", {}, power(live?.power_w)), " now"),
        h("span", { class: "energy" }, h("b", {}, energy(active.energy_wh)), " so far"),
        h("span", { class: "duration" }, h("b", {}, duration(active.started_at, null))),
        h("span", { class: "cost" }, live?.cost ? [h("b", {}, money(live.cost.total_cost?.incl_vat ?? live.cost.total_cost?.excl_vat, live.cost.currency)), " so far"]
          : h("span", { class: "muted" }, "no tariff"))) : "",
      online ? h("div", { class: "actions" },
        active ? h("button", { type: "button", class: "stop danger", dataset: { needs: "operator" }, onclick: () => run(`Stop on EVSE ${n}`, `/sessions/${active.id}/stop`) }, "Stop")
          : STARTABLE.includes(evse.status) ? form : "",
        active ? "" : h("button", { type: "button", class: "unlock", dataset: { needs: "operator" }, onclick: () => run(`Unlock EVSE ${n}`, `${path}/evses/${n}/unlock`) }, "Unlock"),
        evse.status === "unavailable"
          ? h("button", { type: "button", class: "make-available", dataset: { needs: "operator" }, onclick: () => run(`EVSE ${n} available`, `${path}/availability`, { evse: n, operative: true }) }, "Make available")
          : h("button", { type: "button", class: "make-unavailable", dataset: { needs: "operator" }, onclick: () => run(`EVSE ${n} unavailable`, `${path}/availability`, { evse: n, operative: false }) }, "Make unavailable"))
        : h("p", { class: "offline-note" }, "Offline: no command can reach it until it connects."));
  };

  // A reload must not wipe a token being typed.
  const typing = () => {
    const field = document.activeElement;
    return evses.contains(field) && field.tagName === "INPUT" && field.value !== "";
  };
  const load = async () => {
    const [cp, active, reports] = await Promise.all([get(path), get(`/sessions?status=active&charge_point=${encodeURIComponent(id)}`),
      items(`${path}/reports?kind=StatusNotification&limit=20`).catch(() => [])]);
    const live = new Map(await Promise.all(active.items.map(async (s) => [s.id, await get(`/sessions/${s.id}/details`).catch(() => null)])));
    const state = cp.connected ? "online" : "offline";
    const unavailable = cp.evses.filter((e) => e.status === "unavailable").length;
    for (const button of [resetSoft, resetHard]) button.hidden = !cp.connected;
    wholeOff.hidden = !cp.connected || (cp.evses.length > 0 && unavailable === cp.evses.length);
    wholeOn.hidden = !cp.connected || unavailable === 0;
    head.replaceChildren(
      h("span", {}, badge(state, { class: `badge state s-${state}`, id: "charger-state" })),
      h("span", {}, cp.protocol || "protocol unknown"),
      h("span", {}, [cp.vendor, cp.model].filter(Boolean).join(" ") || "vendor unknown"),
      h("span", {}, `firmware ${cp.firmware_version || "—"}`),
      h("span", {}, `serial ${cp.serial_number || "—"}`),
      h("span", {}, `last seen ${time(cp.last_seen)}`),
      h("span", {}, `booted ${time(cp.last_boot)}`),
      cp.node_id ? h("span", { class: "muted" }, `node ${cp.node_id}`) : "",
      // The charger as a whole (OCPP 1.6 connector 0) in fault, with its vendor's words.
      cp.error_code ? h("span", { class: "fault", id: "charger-fault" }, `Error ${cp.error_code}`,
        ...faultWords(reports.map((r) => r.payload).find((p) => p.connectorId === 0))) : "");
    if (cp.protocol === "ocpp2.0.1" && !main.querySelector("#device-model")) evses.after(deviceModel(path));
    if (typing() && evses.childElementCount) { reload(); return; } // again shortly
    const byEvse = new Map(active.items.map((s) => [s.evse_number, s]));
    // The charger's last word on a fault (1.6 StatusNotification: info, vendor code), newest first.
    const faultOf = (e) => e.error_code ? reports.map((r) => r.payload).find((p) => p.connectorId === e.evse_number) : null;
    evses.replaceChildren(...(cp.evses.length ? cp.evses.map((e) => evseCard(e, byEvse.get(e.evse_number), cp.connected,
      live.get(byEvse.get(e.evse_number)?.id), faultOf(e)))
      : [h("p", { class: "muted" }, "No EVSEs known yet.")]));
  };
  const reload = coalesce(() => load().catch(() => null), 300);

  // The log: what the node still holds in its ring, then frames as they pass.
  let loading = null;
  const line = (f) => h("li", { class: `frame ${f.direction}` },
    h("time", { datetime: f.at }, new Date(f.at).toLocaleTimeString()),
    h("span", { class: "dir", title: f.direction === "in" ? "from the charger" : "to the charger" }, f.direction === "in" ? "⇠" : "⇢"),
    h("code", {}, f.frame));
  const key = (f) => `${f.at}|${f.direction}|${f.frame}`;
  const append = (f) => {
    const atBottom = log.parentElement.scrollTop + log.parentElement.clientHeight >= log.parentElement.scrollHeight - 8;
    log.append(line(f));
    while (log.childElementCount > LOG_LINES) log.firstElementChild.remove();
    if (atBottom) log.parentElement.scrollTop = log.parentElement.scrollHeight;
  };
  const loadLog = async () => {
    loading = [];
    const recent = await items(`${path}/messages?limit=200`);
    const seen = new Set(recent.map(key));
    const during = loading.filter((f) => !seen.has(key(f)));
    loading = null;
    log.replaceChildren();
    for (const f of [...recent, ...during]) append(f);
  };
  const reports = coalesce(() => {
    jobs.reload().catch(() => null);
    localList.reload().catch(() => null);
    certificates.reload().catch(() => null);
    charging.reload().catch(() => null);
  }, 300);
  const frame = (f) => {
    if (loading) loading.push(f); else append(f);
    if (/StatusNotification|LocalList|Certificate|ChargingProfile/.test(f.frame)) reports();
    if (/StatusNotification/.test(f.frame)) reload(); // the charger's own fault makes no EVSE event
  };
  const domain = (event) => { if (event.charge_point_id === id) reload(); };

  await load();
  follow({ charge_point: id }, { ready: () => { reload(); loadLog().catch(() => null); }, domain, frame, unauthorized: shell.unauthorized });
  // A session's power, energy and cost move on between status events.
  const ticking = setInterval(() => evses.querySelector(".live-session") && reload(), 5000);
  return () => clearInterval(ticking);
}
