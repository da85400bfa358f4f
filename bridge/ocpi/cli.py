"""The operator's `csms ocpi` commands: Token A, registration, the partners, a resync (push or pull)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bridge.ocpi import hub_client_info, token_store
from bridge.ocpi.client import OcpiError
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import CredentialsError, our_party
from bridge.ocpi.handshake.partners import Party, PartyError
from bridge.ocpi.publishing import sync
from bridge.ocpi.transport import new_token, timestamp
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
        clients = await hub_client_info.summary(pool)  # a hub's: parties reported, connected
        pulls = {row["partner_id"]: row for row in await token_store.states(pool)}
        show([{"id": p.id, "status": p.status, "name": p.name, "version": p.version or "",
               "versions_url": p.versions_url,
               "roles": [f"{r['role']}:{r['country_code']}*{r['party_id']}" for r in p.roles],
               "parties": [str(party) for party in p.parties],
               "hub_clients": (f"{clients.get(p.id, (0, 0))[0]}/"
                               f"{clients.get(p.id, (0, 0))[1]} connected") if p.is_hub else "",
               **_pulled(pulls.get(p.id))}
              for p in await partners.every(pool)],
             [("PARTNER", "id"), ("STATUS", "status"), ("NAME", "name"), ("OCPI", "version"),
              ("VERSIONS URL", "versions_url"), ("ROLES", "roles"), ("PARTIES", "parties"),
              ("HUB CLIENTS", "hub_clients"), ("TOKENS PULLED", "tokens_pulled"),
              ("PULL ERROR", "token_pull_error")],
             getattr(args, "as_json", False))
        return 0
    if args.what == "sync":
        partner = await partners.find(pool, args.party)
        if partner is None:
            print(f"no registered partner {args.party} (see csms ocpi partners)", file=sys.stderr)
            return 1
        if getattr(args, "tokens", False):
            return await _pull_tokens(bridge, partner.id)
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


def _pulled(row: Any) -> dict[str, Any]:
    """A partner's token pulls as `csms ocpi partners` shows them: when the last successful
    one began, and the error of the last one if it failed."""
    last = row["last_pull_at"] if row is not None else None
    failed = row is not None and row["failures"] > 0
    return {"tokens_pulled": timestamp(last) if last else None,
            "token_pull_error": row["last_error"] if failed else None}


async def _pull_tokens(bridge: OcpiBridge, partner_id: int) -> int:
    """`csms ocpi sync PARTY --tokens`: the partner's whole token list, pulled now, here."""
    await bridge.client.start()
    try:
        pulled = await bridge.puller.pull_now(partner_id)
    except OcpiError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await bridge.client.stop()
    if pulled is None:
        print(f"partner {partner_id}'s tokens are being pulled by a running csms now; "
              "try again when it is done", file=sys.stderr)
        return 1
    print(pulled.summary())
    return 0
