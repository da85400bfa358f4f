// A command's outcome in words (the admin API answers codes: accepted, offline, timeout …).

const WORDS = {
  accepted: "accepted by the charger",
  rejected: "refused by the charger",
  busy: "not sent: the charger is busy with another command",
  token_refused: "refused: the token is blocked or expired",
  not_found: "not found",
  offline: "not sent: the charger is offline",
  timeout: "no answer from the charger in time",
  failed: "the charger answered with an error",
  not_supported: "not supported by the charger's protocol",
  invalid: "not valid",
};

// "status: Rejected, reason: …" from a command's detail; nested values as their own words.
function detailWords(detail) {
  if (!detail || typeof detail !== "object") return "";
  const parts = Object.entries(detail)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => `${key.replaceAll("_", " ")} ${typeof value === "object" ? detailWords(value) || JSON.stringify(value) : value}`);
  return parts.join(", ");
}

export function outcomeWords(answer) {
  const data = answer.data || {};
  if (data.outcome) {
    // The charger's own status is said only where it adds to the outcome (Scheduled, not Accepted).
    const { status, ...rest } = data.detail || {};
    const detail = detailWords(String(status).toLowerCase() === data.outcome ? rest : data.detail);
    return `${WORDS[data.outcome] || data.outcome.replaceAll("_", " ")}${detail ? ` (${detail})` : ""}`;
  }
  return data.error || `HTTP ${answer.status}`;
}
