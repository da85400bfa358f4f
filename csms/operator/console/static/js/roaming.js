// Roaming partners: connection state, outbox (pending, failed with last error, delivered), retry, last pushes.
import { call, items } from "./api.js";
import { follow } from "./live.js";
import { age, badge, coalesce, h, time } from "./view.js";

const POLL = 5000; // deliveries do not notify; the queueing of messages does

export async function show(main, shell, partner) {
  return partner ? outbox(main, shell, partner) : overview(main, shell);
}

function push(last) {
  if (!last) return "never";
  return `${last.status} — queued ${time(last.created_at)}${last.delivered_at ? `, delivered ${time(last.delivered_at)}` : ""}`;
}

// A hub's parties: each with its status at the hub and, if any, the messages held for it.
function hubClients(p, link) {
  if (!p.hub_clients) return "";
  if (!p.hub_clients.length) return h("p", { class: "muted small hub-clients" }, "Hub clients: none reported yet");
  return h("div", { class: "small" }, "Hub clients:",
    h("ul", { class: "hub-clients" }, p.hub_clients.map((c) => h("li", { dataset: { party: c.party } },
      `${c.party} (${c.role}) `, badge(c.status.toLowerCase(), { title: `since ${time(c.last_updated)}` }),
      c.held ? [" ", h("a", { href: `${link}?status=pending`, class: "badge s-held held", title: "sent once the hub says it is connected" }, `${c.held} held`)] : ""))));
}

// The partner's token list as we pull it: the last pulls, the count, the error in words if the last failed.
function tokenPull(p) {
  if (p.kind !== "ocpi") return "";
  const pull = p.token_pull;
  if (!pull) return h("p", { class: "muted small token-pull" }, "Tokens: not pulled");
  const last = [pull.last_full_at ? `full ${time(pull.last_full_at)}` : "no full pull yet",
    pull.last_incremental_at ? `incremental ${time(pull.last_incremental_at)}` : ""].filter(Boolean).join(", ");
  return [h("p", { class: "small token-pull" }, `Tokens pulled: ${last}${pull.tokens !== null ? ` — ${pull.tokens} token${pull.tokens === 1 ? "" : "s"} in the last pull` : ""}; next ${time(pull.next_due_at)}`),
    pull.last_error ? h("p", { class: "error small token-pull-error", title: pull.last_error },
      `Token pull failed (${pull.failures} in a row): ${pull.error_words || pull.last_error}`) : ""];
}

async function overview(main, shell) {
  const cards = h("div", { class: "cards", id: "partners" });
  main.replaceChildren(h("section", {}, h("h1", {}, "Roaming"), cards));
  const card = (p) => {
    const link = `#/roaming/${encodeURIComponent(p.partner)}`;
    const waiting = p.waiting && p.waiting.attempts > 0 ? p.waiting : null;
    return h("article", { class: "card partner", dataset: { partner: p.partner } },
      h("header", {}, h("strong", {}, h("a", { href: link }, p.name)), " ", badge(p.state, { class: `badge link-state s-${p.state}` })),
      h("p", { class: "muted small" }, `${p.kind.toUpperCase()} — ${p.registration}`, p.parties?.length ? ` — ${p.parties.join(", ")}` : ""),
      h("p", { class: "counts" },
        h("a", { href: `${link}?status=pending`, class: "count pending" }, `${p.outbox.pending} pending`), " · ",
        h("a", { href: `${link}?status=failed`, class: "count failed" }, `${p.outbox.failed} failed`), " · ",
        h("a", { href: `${link}?status=delivered`, class: "count delivered" }, `${p.outbox.delivered} delivered`)),
      p.waiting ? h("p", { class: "small oldest" }, `Oldest pending: ${age(p.waiting.created_at)} old`) : "",
      // The error in words; as stored (for the logs' reader) on hover.
      waiting ? h("p", { class: "error small last-error", title: waiting.last_error || "" }, `Retrying #${waiting.id} ${waiting.operation} (attempt ${waiting.attempts}, next ${time(waiting.next_attempt_at)}): ${waiting.error_words || ""}`) : "",
      p.last_failed ? h("p", { class: "error small last-failed", title: p.last_failed.last_error || "" }, `Last failed #${p.last_failed.id} ${p.last_failed.operation}: ${p.last_failed.error_words || ""}`) : "",
      hubClients(p, link),
      tokenPull(p),
      h("p", { class: "small" }, "EVSE status push: ", push(p.last_status_push)),
      h("p", { class: "small" }, "EVSE data push: ", push(p.last_data_push)),
      p.last_delivered_at ? h("p", { class: "muted small" }, `Last delivery ${time(p.last_delivered_at)}`) : "");
  };
  const load = async () => {
    const partners = await items("/partners");
    cards.replaceChildren(...(partners.length ? partners.map(card)
      : [h("p", { class: "muted" }, "No roaming partner: enable [oicp] or register an OCPI party.")]));
  };
  const reload = coalesce(() => load().catch(() => null), 500);
  const polling = setInterval(reload, POLL);
  await load();
  follow({}, { ready: reload, domain: (e) => e.type === "outbox" && reload(), unauthorized: shell.unauthorized });
  return () => clearInterval(polling);
}

async function outbox(main, shell, spec) {
  const [partner, query] = spec.split("?");
  let status = new URLSearchParams(query || "").get("status") || "failed";
  const rows = h("tbody", { id: "outbox" });
  const outcome = h("p", { class: "outcome", role: "status" });
  const tabs = h("div", { class: "tabs", role: "tablist" }, ["pending", "failed", "delivered"].map((value) =>
    h("button", { type: "button", role: "tab", dataset: { status: value }, onclick: () => { status = value; load(); } }, value)));
  main.replaceChildren(h("section", {},
    h("p", { class: "crumbs" }, h("a", { href: "#/roaming" }, "Roaming"), " / "),
    h("h1", { id: "outbox-title" }, `Outbox of ${partner}`), tabs, outcome,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Operation"), h("th", { class: "wide" }, "Queued"),
        h("th", {}, "Attempts"), h("th", {}, "Last error / delivered"), h("th", {}, ""))),
      rows))));
  // The partner by its business name.
  items("/partners").then((all) => {
    const found = all.find((p) => p.partner === partner);
    if (found) main.querySelector("#outbox-title").textContent = `Outbox of ${found.name}`;
  }).catch(() => null);
  const retry = async (message) => {
    const answer = await call(`/outbox/${message.id}/retry`, { method: "POST" });
    outcome.className = `outcome ${answer.ok ? "ok" : "bad"}`;
    outcome.textContent = `Retry #${message.id}: ${answer.ok ? "due now" : answer.data?.error || answer.status}`;
    reload();
  };
  const load = async () => {
    for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.status === status));
    const messages = await items(`/outbox?partner=${encodeURIComponent(partner)}&status=${status}&limit=100`);
    rows.replaceChildren(...messages.map((m) => h("tr", { dataset: { id: m.id } },
      h("td", {}, String(m.id)), h("td", {}, m.operation, m.held ? [" ", badge("held", { class: "badge s-held held", title: `until the hub says ${m.addressee} is connected` })] : "",
        h("div", { class: "muted small" }, m.path, m.addressee ? ` — for ${m.addressee}` : "")),
      h("td", { class: "wide" }, time(m.created_at)), h("td", {}, String(m.attempts)),
      h("td", { class: m.last_error ? "error small" : "small", title: m.last_error || "" }, m.error_words || (m.delivered_at ? `delivered ${time(m.delivered_at)}` : "")),
      h("td", {}, m.status === "delivered" ? "" : h("button", { type: "button", class: "retry", dataset: { needs: "operator" }, onclick: () => retry(m) }, "Retry")))));
    if (!messages.length) rows.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, `No ${status} messages.`)));
  };
  const reload = coalesce(() => load().catch(() => null), 500);
  const polling = setInterval(reload, POLL);
  await load();
  follow({}, { ready: reload, domain: (e) => e.type === "outbox" && e.partner === partner && reload(), unauthorized: shell.unauthorized });
  return () => clearInterval(polling);
}
