"""Cross-site request forgery: a change made with the console's cookie must come from its own page."""

from __future__ import annotations

from aiohttp import web

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_json(content_type: str) -> bool:
    """application/json or a JSON-based type (application/merge-patch+json, …)."""
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json"))


def https(request: web.Request) -> bool:
    """Behind a TLS-terminating proxy the console is still served over https."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def own_origin(request: web.Request) -> str:
    return f"{'https' if https(request) else 'http'}://{request.host}".lower()


def refusal(request: web.Request) -> str | None:
    """Why a cookie-authenticated request may not be served, or None. A form or a text/plain
    body is what another site's page can send without asking (a "simple" request); JSON needs
    a CORS preflight we never grant. The Origin (or, without it, Sec-Fetch-Site) tells the page."""
    if request.method in SAFE_METHODS:
        return None
    if not is_json(request.content_type):
        return "a change with the console's cookie must be sent as Content-Type: application/json"
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.lower() != own_origin(request):
            return f"origin {origin!r} is not the console's own"
        return None
    if request.headers.get("Sec-Fetch-Site") != "same-origin":
        return "a change with the console's cookie needs its Origin (or Sec-Fetch-Site: same-origin)"
    return None
