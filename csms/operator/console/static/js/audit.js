// The audit log: who changed what or sent which command, when, and how it ended; newest first.
import { get } from "./api.js";
import { h, time } from "./view.js";

const PAGE = 50;
const FILTERS = [["user", "Who"], ["resource", "Resource"], ["action", "Action contains"]];

export async function show(main) {
  let offset = 0;
  const inputs = Object.fromEntries(FILTERS.map(([name, label]) =>
    [name, h("input", { type: "search", name, id: `audit-${name}`, placeholder: label, "aria-label": label })]));
  const rows = h("tbody", { id: "audit" });
  const count = h("span", { class: "muted small", id: "audit-count" });
  const previous = h("button", { type: "button", class: "quiet", id: "audit-previous" }, "Newer");
  const next = h("button", { type: "button", class: "quiet", id: "audit-next" }, "Older");
  const form = h("form", { class: "filters audit-filters", onsubmit: (event) => {
    event.preventDefault();
    offset = 0;
    load();
  } }, Object.values(inputs), h("button", { type: "submit" }, "Filter"));
  main.replaceChildren(h("section", {}, h("h1", {}, "Audit log"), form,
    h("div", { class: "table-wrap" }, h("table", { class: "audit" },
      h("thead", {}, h("tr", {}, ["When", "Who", "Via", "Action", "Target", "Outcome", "Parameters"].map((c) => h("th", {}, c)))),
      rows)),
    h("div", { class: "actions" }, previous, next, count)));
  previous.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  next.addEventListener("click", () => { offset += PAGE; load(); });

  const load = async () => {
    const query = new URLSearchParams({ limit: PAGE, offset });
    for (const [name, input] of Object.entries(inputs)) if (input.value.trim()) query.set(name, input.value.trim());
    const page = await get(`/audit?${query}`);
    rows.replaceChildren(...page.items.map((row) => h("tr", { dataset: { id: row.id, outcome: row.outcome ?? "" } },
      h("td", {}, time(row.at)),
      h("td", {}, row.actor),
      h("td", { class: "muted small" }, row.via),
      h("td", {}, row.action),
      h("td", { class: "small" }, row.target || ""),
      h("td", { class: row.outcome === null ? "muted" : row.outcome < 400 ? "" : "error" },
        row.outcome === null ? "under way" : `${row.outcome}${row.result ? ` ${row.result}` : ""}`),
      h("td", { class: "parameters" }, Object.keys(row.parameters || {}).length ? JSON.stringify(row.parameters) : ""))));
    if (!page.items.length) rows.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "Nothing recorded.")));
    count.textContent = page.total ? `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}` : "";
    previous.hidden = page.offset === 0;
    next.hidden = page.offset + page.items.length >= page.total;
  };
  await load();
  return null;
}
