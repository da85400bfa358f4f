// The admin API, authenticated by the HttpOnly cookie that POST /login sets.

export class Unauthorized extends Error {}

// Any answer, with its status: commands report their outcome with 409, 503, 504 …
// A change is always sent as JSON (an empty object without a body): with the cookie, the API
// takes nothing else (what another site's form could send is refused).
export async function call(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body === undefined && method !== "GET" && method !== "HEAD") body = {};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, init);
  if (response.status === 401 && path !== "/login") throw new Unauthorized();
  let data = null;
  try { data = await response.json(); } catch { /* an empty body */ }
  return { status: response.status, ok: response.ok, data };
}

// Data that must be there: anything but 2xx is an error.
export async function get(path) {
  const answer = await call(path);
  if (!answer.ok) throw new Error(answer.data?.error || `HTTP ${answer.status}`);
  return answer.data;
}

// A list's items: every list answers {items, limit, offset, total}; this is one page (the
// path may ask for limit and offset).
export async function items(path) {
  return (await get(path)).items;
}

// Every item of a list, page after page (a charger's inventory, a session's samples …).
export async function allItems(path) {
  const found = [];
  const glue = path.includes("?") ? "&" : "?";
  for (;;) {
    const page = await get(`${path}${glue}limit=1000&offset=${found.length}`);
    found.push(...page.items);
    if (!page.items.length || found.length >= page.total) return found;
  }
}
