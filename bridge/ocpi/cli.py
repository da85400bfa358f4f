"""The operator's `csms ocpi` commands: Token A for a new partner, registration, the partners, a resync."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bridge.ocpi.client import OcpiError
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import CredentialsError, our_party
from bridge.ocpi.handshake.partners import Party, PartyError
from bridge.ocpi.publishing import sync
from bridge.ocpi.transport import new_token
from csms.operator.command_line.tables import show

if TYPE_CHECKING:
    from bridge.ocpi.service import OcpiBridge


async def command(bridge: OcpiBridge, args: argparse.Namespace) -> int:
    """One `csms ocpi` subcommand (args.what), run by the CLI on an opened application."""
    settings, pool = bridge.settings, bridge.pool
    token_format = "plain" if getattr(args, "plain", False) else "base64"
    try:
        parties = [Party.parse(text) for text in getattr(args, "parties", None) or []]
    except PartyError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    if args.what == "issue-token":
        token = new_token()
        try:
            partner_id = await partners.issue_token_a(pool, token, args.name, token_format,
                                                      parties, our_party(settings))
        except PartyError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        print(f"partner {partner_id}: give it Token A {token}\n"
              f"and our versions URL {settings.public_url.rstrip('/')}/ocpi/versions")
        return 0
    if args.what == "partners":
        show([{"id": p.id, "status": p.status, "name": p.name, "version": p.version or "",
               "versions_url": p.versions_url,
               "roles": [f"{r['role']}:{r['country_code']}*{r['party_id']}" for r in p.roles],
               "parties": [str(party) for party in p.parties]}
              for p in await partners.every(pool)],
             [("PARTNER", "id"), ("STATUS", "status"), ("NAME", "name"), ("OCPI", "version"),
              ("VERSIONS URL", "versions_url"), ("ROLES", "roles"), ("PARTIES", "parties")],
             getattr(args, "as_json", False))
        return 0
    if args.what == "sync":
        partner = await partners.find(pool, args.party)
        if partner is None:
            print(f"no registered partner {args.party} (see csms ocpi partners)", file=sys.stderr)
            return 1
        await sync.request(pool, partner.id)
        counts = await sync.run(pool, settings, partner.id)
        print(f"queued {counts['locations']} Location(s) and {counts['tariffs']} Tariff(s) "
              f"for partner {partner.id}; the running csms delivers them")
        return 0
    await bridge.client.start()
    try:
        if args.what == "register":
            partner = await bridge.registrar.register_with(args.url, args.token_a, args.name,
                                                           token_format, parties=parties)
            roles = " ".join(f"{r['role']}:{r['country_code']}*{r['party_id']}"
                             for r in partner.roles)
            print(f"registered as partner {partner.id}: {roles}")
        else:
            found = await partners.get(pool, args.id)
            if found is None:
                print(f"no partner {args.id}", file=sys.stderr)
                return 1
            await bridge.registrar.unregister_with(found)
            print(f"partner {args.id} unregistered")
    except (OcpiError, CredentialsError, PartyError) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await bridge.client.stop()
    return 0
