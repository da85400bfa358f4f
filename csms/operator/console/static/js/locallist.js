// A charger's local authorization list: its version and sync state, and a button for a full list.
import { call, get } from "./api.js";
import { h, time } from "./view.js";

export function localListPanel(path) {
  const facts = h("div", { class: "facts", id: "local-list" });
  const sync = h("button", { type: "button", id: "local-list-sync", dataset: { needs: "operator" } }, "Send full list");
  const load = async () => {
    const list = await get(`${path}/local-list`);
    facts.replaceChildren(
      h("span", {}, `version ${list.version}`),
      h("span", {}, list.state + (list.detail ? ` (${list.detail})` : "")),
      h("span", {}, `${list.entries} entries`),
      h("span", {}, `synced ${list.synced_at ? time(list.synced_at) : "—"}`),
      list.full_requested ? h("span", { class: "muted" }, "full list requested") : "");
  };
  sync.addEventListener("click", async () => { await call(`${path}/local-list/sync`, { method: "POST" }); load().catch(() => null); });
  load().catch(() => null);
  return { element: h("div", {}, h("h2", {}, "Local authorization list"), facts, h("div", { class: "actions" }, sync)), reload: load };
}
