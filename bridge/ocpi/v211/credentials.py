"""OCPI 2.1.1 Credentials, purely: one party, flat (credentials.md 2.1), no roles list."""

from __future__ import annotations

from typing import Any

from bridge.ocpi.handshake.objects import CredentialsError, read_token_and_url
from bridge.ocpi.transport import INVALID_PARAMETERS


def credentials_211(token: str, versions_url: str, country_code: str, party_id: str,
                    business_name: str) -> dict[str, Any]:
    """Our 2.1.1 Credentials: token, url, business_details, party_id, country_code."""
    return {"token": token, "url": versions_url, "business_details": {"name": business_name},
            "party_id": party_id, "country_code": country_code}


def read_credentials_211(body: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """A 2.1.1 partner's Credentials → (token, versions url, roles). 2.1.1 names no role: a
    partner of a CPO is an eMSP, so its one party becomes an EMSP role, as 2.2.1 would say it."""
    token, url = read_token_and_url(body)
    country_code, party_id = body.get("country_code"), body.get("party_id")
    if not isinstance(country_code, str) or len(country_code) != 2 \
            or not isinstance(party_id, str) or len(party_id) != 3:
        raise CredentialsError(INVALID_PARAMETERS,
                               "country_code (2 characters) and party_id (3) are required")
    details = body.get("business_details")
    if not isinstance(details, dict) or not isinstance(details.get("name"), str):
        raise CredentialsError(INVALID_PARAMETERS, "business_details with a name is required")
    return token, url, [{"role": "EMSP", "country_code": country_code, "party_id": party_id,
                         "business_details": details}]
