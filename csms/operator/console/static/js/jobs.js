// A charger's firmware updates and log uploads, newest first: where each stands and the charger's last word.
import { items } from "./api.js";
import { badge, h, time } from "./view.js";

const KIND = { firmware: "Firmware update", log: "Log upload" };

export function jobsPanel(path) {
  const rows = h("tbody", { id: "jobs" });
  const load = async () => {
    const jobs = await items(`${path}/jobs`);
    rows.replaceChildren(...(jobs.length ? jobs.map((job) => h("tr", { dataset: { job: job.id, state: job.state } },
      h("td", {}, `#${job.id}`),
      h("td", {}, KIND[job.kind] || job.kind),
      h("td", {}, badge(job.state, { class: `badge job-state s-${job.state}` })),
      h("td", { class: "muted small" }, job.last_status || ""),
      h("td", { class: "muted small" }, time(job.finished_at || job.updated_at))))
      : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No firmware updates or log uploads yet."))]));
  };
  load().catch(() => null);
  return {
    element: h("div", {}, h("h2", {}, "Firmware and logs"),
      h("table", { class: "jobs" }, h("thead", {}, h("tr", {}, ["Job", "What", "State", "Charger said", "When"].map((c) => h("th", {}, c)))), rows)),
    reload: load,
  };
}
