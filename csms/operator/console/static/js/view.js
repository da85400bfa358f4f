// Building elements and formatting values for display (times in the browser's zone).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

export function time(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return today ? at.toLocaleTimeString() : at.toLocaleString();
}

export function energy(wh) {
  return wh === null || wh === undefined ? "—" : `${(wh / 1000).toFixed(2)} kWh`;
}

export function duration(fromIso, toIso) {
  if (!fromIso) return "—";
  const seconds = Math.max(0, Math.round(((toIso ? new Date(toIso) : new Date()) - new Date(fromIso)) / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return hours ? `${hours} h ${minutes} min` : minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

export function badge(status, extra = {}) {
  return h("span", { class: `badge s-${status}`, ...extra }, status);
}

// The roaming partner a session belongs to, from what the bridges keep in its attributes.
// names: the partners' business names by outbox key ("ocpi:3"), from /partners, where known.
export function partnerOf(session, names = null) {
  const attributes = session.attributes || {};
  if (attributes.oicp) return `Hubject${attributes.oicp.ProviderID ? ` (${attributes.oicp.ProviderID})` : ""}`;
  if (attributes.ocpi) return names?.get(`ocpi:${attributes.ocpi.partner}`) || `OCPI party ${attributes.ocpi.partner ?? ""}`.trim();
  return "";
}

// One call `ms` after the first of a burst: a storm of events costs one reload per `ms`, and
// a steady stream of them cannot postpone it forever.
export function coalesce(fn, ms) {
  let timer = null;
  return () => {
    if (timer === null) timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
}

export function failure(main, error) {
  main.replaceChildren(h("p", { class: "error" }, `Could not load: ${error.message}`));
}

// How long ago: "40 s", "12 min", "3 h 5 min".
export function age(iso) {
  return iso ? duration(iso, null) : "—";
}

export function power(w) {
  return w === null || w === undefined ? "—" : `${(w / 1000).toFixed(1)} kW`;
}

export function money(amount, currency) {
  return amount === null || amount === undefined ? "—" : `${Number(amount).toFixed(2)} ${currency || ""}`.trim();
}
