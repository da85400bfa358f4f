"""OCPI 2.2.1 credentials shapes, purely: our Credentials, and reading a partner's."""

from __future__ import annotations

from typing import Any

from bridge.ocpi.transport import INVALID_PARAMETERS


class CredentialsError(Exception):
    def __init__(self, status_code: int, message: str, http_status: int = 200) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.http_status = http_status


def read_token_and_url(body: Any) -> tuple[str, str]:
    """The token and versions URL every version's Credentials object carries; 2001 when unusable."""
    if not isinstance(body, dict):
        raise CredentialsError(INVALID_PARAMETERS, "body must be a Credentials object")
    token, url = body.get("token"), body.get("url")
    if not isinstance(token, str) or not 0 < len(token) <= 64 or not token.isprintable() \
            or " " in token:
        raise CredentialsError(INVALID_PARAMETERS, "token must be 1 to 64 printable characters")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise CredentialsError(INVALID_PARAMETERS, "url must be the versions URL")
    return token, url


def credentials_221(token: str, versions_url: str, country_code: str, party_id: str,
                    business_name: str) -> dict[str, Any]:
    """Our OCPI 2.2.1 Credentials: one CPO role."""
    return {"token": token, "url": versions_url, "roles": [{
        "role": "CPO", "country_code": country_code, "party_id": party_id,
        "business_details": {"name": business_name}}]}


def read_credentials_221(body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """A partner's 2.2.1 Credentials object → (token, versions url, roles); 2001 when unusable."""
    token, url = read_token_and_url(body)
    roles = body.get("roles")
    if not isinstance(roles, list) or not roles or not all(
            isinstance(r, dict) and isinstance(r.get("country_code"), str)
            and isinstance(r.get("party_id"), str) and isinstance(r.get("role"), str)
            for r in roles):
        raise CredentialsError(INVALID_PARAMETERS, "roles must list role, country_code, party_id")
    return token, url, roles
