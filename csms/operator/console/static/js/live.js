// The page's server-sent event stream: domain changes, plus one charger's frames or one session's meters.
import { call } from "./api.js";

let source = null;
let retry = null;
const indicator = () => document.getElementById("live");

export function stopFollowing() {
  clearTimeout(retry);
  if (source) source.close();
  source = null;
  indicator()?.classList.remove("on");
}

// handlers: ready() once the stream runs (load the page's data then), domain(event), frame(frame),
// unauthorized() when the login is gone.
export function follow(params, handlers) {
  stopFollowing();
  const query = new URLSearchParams(params).toString();
  const stream = new EventSource(`/api/v1/events${query ? `?${query}` : ""}`);
  source = stream;
  const parse = (handler) => (message) => handler?.(JSON.parse(message.data));
  stream.addEventListener("ready", () => {
    indicator()?.classList.add("on");
    handlers.ready?.();
  });
  // The server dropped our backlog (we were too slow): reload what the page shows.
  stream.addEventListener("reset", () => handlers.ready?.());
  stream.addEventListener("domain", parse(handlers.domain));
  stream.addEventListener("frame", parse(handlers.frame));
  stream.addEventListener("error", async () => {
    indicator()?.classList.remove("on");
    if (stream.readyState !== EventSource.CLOSED || source !== stream) return;
    // Closed for good (EventSource retries network errors itself): a 401, or the server said no.
    try {
      await call("/tokens?limit=1");
      retry = setTimeout(() => source === stream && follow(params, handlers), 3000);
    } catch {
      handlers.unauthorized?.();
    }
  });
}
