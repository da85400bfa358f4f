"""Pulling eMSPs' token lists (GET on their Tokens Sender, paged): in full, or what changed since."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import structlog
from yarl import URL

from bridge.ocpi import token_store, tokens
from bridge.ocpi.client import OcpiClient, OcpiError
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import our_party
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.transport import parse_timestamp, timestamp
from bridge.ocpi.versions import dialects
from csms.config import OcpiSettings
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

PAGE_LIMIT = 1000        # tokens we ask for per page (the eMSP may send fewer: its X-Limit)
MAX_PAGES = 10_000       # one pull follows at most this many Links
MAX_TOKENS = 1_000_000   # and reads at most this many tokens
# An incremental pull asks for what changed since a little before the last successful one began:
# the eMSP's clock need not be exactly ours, nor its changes visible the moment they are stamped.
# Tokens come again at worst, and storing one twice changes nothing.
OVERLAP = timedelta(minutes=5)
_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


@dataclass
class Pulled:
    """What one pull did."""

    partner_id: int
    full: bool
    pages: int = 0
    stored: int = 0      # tokens written (also unchanged ones)
    kept: int = 0        # listed, but the copy we hold (pushed meanwhile) is newer
    skipped: int = 0     # unreadable, or of a party that is not the partner's
    withdrawn: int = 0   # (full pulls) ours no longer listed: now valid false
    total: int | None = None  # the eMSP's X-Total-Count (its first page's)
    stopped: str | None = None  # why the pull ended before the list's last page
    complete: bool = False
    no_sender: bool = False  # the partner offers no Tokens Sender: nothing to pull
    newest: datetime | None = None
    listed: set[tuple[str, str, str]] = field(default_factory=set, repr=False)  # keys seen

    def summary(self) -> str:
        kind = "full" if self.full else "incremental"
        if self.no_sender:
            return f"partner {self.partner_id} offers no Tokens Sender: nothing to pull"
        text = (f"{kind} pull of partner {self.partner_id}: {self.stored} token(s) stored from "
                f"{self.pages} page(s)")
        for count, what in ((self.kept, "kept (ours newer)"), (self.skipped, "skipped"),
                            (self.withdrawn, "withdrawn (no longer listed)")):
            if count:
                text += f", {count} {what}"
        if self.stopped:
            text += f"; stopped early: {self.stopped}"
        return text


def next_link(header: str | None) -> str | None:
    """The 'next' target of a Link header (RFC 8288), as written; None without one."""
    found = _NEXT.search(header or "")
    return found.group(1).strip() if found else None


def within(link: str, current: str, endpoint: str) -> str | None:
    """The absolute URL a Link points to, if it stays within the partner's Tokens endpoint: same
    scheme, host and port, and the endpoint's path or one below it. Anything else is an address
    the partner chose elsewhere: we do not go there (None)."""
    try:
        base, target = URL(endpoint), URL(current).join(URL(link))
    except ValueError:
        return None
    if (target.scheme, (target.host or "").lower(), target.port) != \
            (base.scheme, (base.host or "").lower(), base.port) or target.user is not None:
        return None
    root, path = base.path.rstrip("/"), target.path
    if ".." in path.split("/") or not (path.rstrip("/") == root or path.startswith(root + "/")):
        return None
    return str(target.with_fragment(None))


def total_count(headers: dict[str, str]) -> int | None:
    value = headers.get("x-total-count", "").strip()
    return int(value) if value.isdigit() else None


def backoff(failures: int, settings: OcpiSettings) -> float:
    """Seconds until a failed pull is tried again: from retry_base_delay, doubling with each
    failure in a row, up to retry_max_delay, and never later than the next scheduled pull."""
    delay = settings.retry_base_delay * 2 ** min(failures, 32)
    return min(delay, settings.retry_max_delay, settings.token_pull_interval)


def routed_to(partner: Partner) -> tuple[str, str] | None:
    """Whom the GET is for: a hub's own party (GET All via Hubs: it answers for every party
    behind it), else the partner's eMSP party."""
    hub = next((r for r in partner.roles if r.get("role") == "HUB"), None)
    if hub is not None:
        return str(hub["country_code"]), str(hub["party_id"])
    return partner.emsp_party()


class TokenPuller:
    """Runs due pulls, one partner at a time; a claim on the partner's pull row (renewed every
    page) keeps every other process from pulling it meanwhile."""

    def __init__(self, pool: asyncpg.Pool, client: OcpiClient, settings: OcpiSettings,
                 holder: str) -> None:
        self.pool = pool
        self.client = client
        self.settings = settings
        self.holder = holder
        self.lease = 2 * settings.request_timeout + 30
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due pulls now (a partner registered)."""
        self._wake.set()

    async def run(self) -> None:
        """Forever: every due pull, then wait for the next check or a wake-up."""
        while True:
            try:
                while await self.pull_due():
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("ocpi token pulls: database unavailable", error=repr(exc))
            except Exception:  # a bug must not end the schedule: the claim runs out, retried
                log.exception("ocpi token pull failed unexpectedly")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.settings.token_pull_interval, 5.0)):
                    await self._wake.wait()  # not wait_for: see bridge/outbox.py

    async def pull_due(self) -> Pulled | None:
        """The most overdue pull, if one is due and nobody holds it."""
        row = await token_store.claim(self.pool, self.holder, self.lease)
        return None if row is None else await self._pull(row)

    async def pull_now(self, partner_id: int) -> Pulled | None:
        """A full pull of this partner at once (the operator's); None: another process is
        pulling it now. Errors are raised (OcpiError), after being recorded."""
        row = await token_store.claim(self.pool, self.holder, self.lease, partner_id,
                                      on_demand=True)
        return None if row is None else await self._pull(row, raise_errors=True)

    async def _pull(self, row: asyncpg.Record, raise_errors: bool = False) -> Pulled | None:
        partner_id = row["partner_id"]
        full = row["full_asked_at"] is not None or (row["last_pull_at"] is None
                                                    and row["newest_seen"] is None)
        result = Pulled(partner_id, full)
        try:
            partner = await partners.get(self.pool, partner_id)
            if partner is None or partner.status != "registered" or not partner.their_token:
                raise OcpiError("the partner is not registered")
            if partner.endpoint("tokens", "SENDER") is None:
                # It only pushes: nothing to pull, nor to withdraw.
                result.no_sender, full_done = True, full
            else:
                await self._crawl(partner, row, result)
                full_done = full and result.complete
            if full_done and result.pages:
                async with self.pool.acquire() as conn, conn.transaction():
                    result.withdrawn = await token_store.withdraw_unlisted(
                        conn, partner, result.listed, row["started_at"])
            await token_store.succeeded(self.pool, partner_id, self.holder, full_done=full_done,
                                        newest=result.newest, count=result.stored,
                                        interval=self.settings.token_pull_interval)
        except asyncio.CancelledError:
            # A stop: the claim is let go at once (not when its lease runs out), still due.
            with contextlib.suppress(Exception):
                await asyncio.shield(token_store.release(self.pool, partner_id, self.holder))
            raise
        except (OcpiError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            retry = backoff(row["failures"], self.settings)
            # The operator's own pull tells them itself (one line): no WARNING for it.
            (log.info if raise_errors else log.warning)(
                "ocpi token pull failed", partner=partner_id, full=full, error=str(exc),
                retry_in=retry)
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await token_store.failed(self.pool, partner_id, self.holder, str(exc), retry)
            if raise_errors:
                raise
            return result
        (log.warning if result.stopped else log.info)(
            "ocpi tokens pulled", partner=partner_id, full=full, pages=result.pages,
            stored=result.stored, kept=result.kept, skipped=result.skipped,
            withdrawn=result.withdrawn, total=result.total, stopped=result.stopped)
        return result

    async def _crawl(self, partner: Partner, row: asyncpg.Record, result: Pulled) -> None:
        """Every page from the first, following the eMSP's Links while they stay within its
        Tokens endpoint; the tokens of each page stored in one transaction."""
        endpoint = partner.endpoint("tokens", "SENDER")
        assert endpoint is not None
        query: dict[str, Any] = {"limit": PAGE_LIMIT}
        if not result.full:
            query["date_from"] = timestamp((row["last_pull_at"] or row["newest_seen"]) - OVERLAP)
        url: str | None = f"{endpoint}?{urlencode(query)}"
        asked: set[str] = set()
        assert partner.their_token is not None
        ours = our_party(self.settings)
        while url is not None:
            asked.add(url)
            dialect = dialects.of(partner)
            data, headers = await self.client.page(
                url, partner.their_token, dialect.header_format(partner.token_format),
                routed_to(partner) if dialect.routing_headers else None)
            result.pages += 1
            if result.total is None:
                result.total = total_count(headers)
            await self._store_page(partner, data, result, ours)
            if not await token_store.renew(self.pool, partner.id, self.holder, self.lease):
                raise OcpiError("the pull's claim ran out (another process may pull now)")
            link = next_link(headers.get("link"))
            if link is None:
                result.complete = True
                break
            url = within(link, url, endpoint)
            if url is None:
                result.stopped = "its Link leads outside its Tokens endpoint (not followed)"
                log.warning("ocpi token pull: Link not followed", partner=partner.id, link=link[:200])
            elif url in asked or not data:
                result.stopped = "its Link repeats a page, or follows an empty one"
                url = None
            elif result.pages >= MAX_PAGES or len(result.listed) >= MAX_TOKENS:
                result.stopped = f"more than {MAX_PAGES} pages or {MAX_TOKENS} tokens"
                url = None
        if result.full and result.complete and result.total is not None \
                and len(result.listed) < result.total:
            # Tokens changed while we paged shift the offsets: one may have been missed. What
            # was read is kept; nothing is withdrawn on an incomplete list, and a full pull stays due.
            result.complete = False
            result.stopped = (f"{len(result.listed)} distinct tokens of the {result.total} it "
                              "counted: the list changed while paging")

    async def _store_page(self, partner: Partner, data: list[Any], result: Pulled,
                          ours: partners.Party) -> None:
        dialect = dialects.of(partner)
        theirs = partner.emsp_party() or ("", "")
        async with self.pool.acquire() as conn, conn.transaction():
            for item in data:
                try:  # a 2.1.1 Token names no party: the eMSP's, in the form we store
                    item = dialect.token_in(item, *theirs)
                except tokens.TokenError as exc:
                    result.skipped += 1
                    log.info("ocpi pulled token skipped", partner=partner.id, error=str(exc))
                    continue
                key = tokens.key_of(item)
                if key is not None:
                    result.listed.add(key)  # listed, even if unreadable: not withdrawn
                try:
                    token = tokens.read_listed(item)
                except tokens.TokenError as exc:
                    result.skipped += 1
                    log.info("ocpi pulled token skipped", partner=partner.id, error=str(exc))
                    continue
                assert key is not None
                party = {"country_code": key[0], "party_id": key[1]}
                if not partner.acts_for(key[0], key[1]) or ours.covers(party):
                    result.skipped += 1
                    log.warning("ocpi pulled token of a party not the partner's skipped",
                                partner=partner.id, party=f"{key[0]}*{key[1]}")
                    continue
                if await token_store.store_token(conn, partner, token, pulled=True):
                    result.stored += 1
                else:
                    result.kept += 1
                at = parse_timestamp(str(token["last_updated"]))
                result.newest = at if result.newest is None else max(result.newest, at)
