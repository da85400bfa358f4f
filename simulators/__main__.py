"""`python -m simulators` / `csms-sim`: simulated chargers, a fleet, Hubject, OCPI eMSP or hub, balancer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable

from csms.logs import configure_logging
from csms.memory import freeze_forever, tune_collector
from csms.operator.command_line.help_format import Parser
from csms.stalls import StallWatch
from simulators.balancer import Balancer
from simulators.chargepoint import SimConfig
from simulators.chargepoint201 import ChargePoint201
from simulators.fleet import make_charge_point, run_fleet
from simulators.partners.emsp import Received as OcpiReceived
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.emsp211 import SimulatedEmsp211
from simulators.partners.hub import SimulatedHub
from simulators.partners.hubject import Received, SimulatedHubject


async def _until_interrupted(stop: Callable[[], Awaitable[None]]) -> None:
    """Serve until Ctrl-C, then stop cleanly."""
    try:
        await asyncio.Event().wait()
    finally:
        await stop()


async def _charge_point(args: argparse.Namespace) -> None:
    sim = make_charge_point(args.protocol, SimConfig(
        charge_point_id=args.id, url=args.url, connectors=args.connectors,
        meter_interval=args.meter_interval, power_w=args.power, password=args.password,
        iso15118=args.iso15118))
    await sim.start()
    print(f"{args.id} connected ({sim.subprotocol}), boot {sim.boot_status}")
    try:
        if args.charging_limit:  # 2.0.1 K12: e.g. SO=16, an external limit on the charger
            if not isinstance(sim, ChargePoint201):
                raise SystemExit("--charging-limit is a 2.0.1 message")
            source, _, amps = args.charging_limit.partition("=")
            await sim.notify_charging_limit(source, float(amps) if amps else None)
            print(f"external limit {args.charging_limit} notified")
        if args.local_session:
            transaction_id = await sim.start_local_session(1, args.local_session)
            print(f"local session {transaction_id} started with {args.local_session}")
            await asyncio.sleep(args.session_seconds)
            await sim.stop_local_session(1)
            await sim.flush()
            print(f"session ended at {sim.meter_wh[1]} Wh")
            if args.exit_after_session:
                return
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        await sim.stop()


async def _fleet(args: argparse.Namespace) -> None:
    counts = await run_fleet(args.protocol, args.url, args.count, args.duration, args.prefix,
                             args.heartbeat, args.token, args.meter_interval)
    for action, n in sorted(counts.items()):
        print(f"  {action:24} {n}")


def _print_received(received: Received) -> None:
    body = received.body if isinstance(received.body, dict) else {}
    kind = body.get("ActionType") or body.get("Type") or body.get("SessionID", "")
    verdict = "valid" if not received.errors else "INVALID: " + "; ".join(received.errors)
    print(f"<- {received.operation} {kind} ({verdict})", flush=True)


async def _hubject(args: argparse.Namespace) -> None:
    stand_in = SimulatedHubject()
    stand_in.on_receive = _print_received
    for card in args.card or []:
        uid, _, provider = card.partition("=")
        stand_in.known_cards[uid.upper()] = provider or args.provider
    stand_in.offline_providers.update(args.offline_provider or [])
    stand_in.unreachable_providers.update(args.unreachable_provider or [])
    stand_in.down = args.down
    await stand_in.start(args.host, args.port)
    cards = ", ".join(f"{uid} ({provider})" for uid, provider in stand_in.known_cards.items())
    print(f"simulated Hubject at {stand_in.base_url}; cards known: {cards or 'none'}"
          + (f"; offline EMPs (Hubject authorizes): {', '.join(args.offline_provider)}"
             if args.offline_provider else "")
          + (f"; unreachable EMPs (310): {', '.join(args.unreachable_provider)}"
             if args.unreachable_provider else "")
          + ("; DOWN: every request gets HTTP 503" if args.down else ""), flush=True)
    await _until_interrupted(stand_in.stop)


async def _balancer(args: argparse.Namespace) -> None:
    configure_logging("warning")  # JSON lines on stderr off a terminal, as a node's
    backends = []
    for backend in args.backend:
        host, _, port = backend.rpartition(":")
        backends.append((host or "127.0.0.1", int(port)))
    balancer = Balancer(backends)
    await balancer.start(args.host, args.port, reuse_port=args.reuse_port)
    print(f"balancing {args.host}:{balancer.port} over {args.backend}, fewest connections first",
          flush=True)
    # its own stalls logged as the nodes' are: a bench reads both beside its slowest calls; and
    # its collector kept out of the way as theirs is (a real balancer has none to pause it)
    loop = asyncio.get_running_loop()
    tune_collector()
    tasks = [loop.create_task(StallWatch(warn_after=args.stall_warning).watch_forever()),
             loop.create_task(freeze_forever())]
    try:
        await _until_interrupted(balancer.stop)
    finally:
        for task in tasks:
            task.cancel()


def _print_ocpi(received: OcpiReceived, party: str = "") -> None:
    body = received.body if isinstance(received.body, dict) else {}
    what = body.get("status") or body.get("result") or body.get("id") or ""
    verdict = "valid" if not received.errors else "INVALID: " + "; ".join(received.errors)
    print(f"{party + ' ' if party else ''}<- {received.method} {received.path} {what} ({verdict})",
          flush=True)


async def _hub(args: argparse.Namespace) -> None:
    """A hub with two eMSPs behind it; they connect once the CPO has registered with the hub."""
    emsps = [SimulatedEmsp("NL", "EMS"), SimulatedEmsp("BE", "OTH")]
    country_code, _, party_id = args.party.partition("*")
    hub = SimulatedHub(emsps, country_code, party_id)
    for stand_in in emsps:
        name = f"{stand_in.country_code}*{stand_in.party_id}"
        stand_in.on_receive = lambda received, name=name: _print_ocpi(received, name)
        await stand_in.start(args.host)
    for uid in args.token or []:
        emsps[0].token(uid)  # NL*EMS knows it: asked in real time through the hub
    await hub.start(args.host, args.port)
    print(f"simulated hub {args.party} at {hub.versions_url}\n"
          f"register with it: csms ocpi register {hub.versions_url} {hub.token_a} "
          f"--party HUB:{args.party} --party NL*EMS --party BE*OTH", flush=True)
    try:
        await hub.registered.wait()  # the CPO's registration is the operator's to start
        for stand_in in emsps:
            await hub.connect(stand_in)
        print("NL*EMS and BE*OTH connected through the hub (ClientInfo CONNECTED sent)", flush=True)
        await asyncio.Event().wait()
    finally:
        await hub.stop()
        for stand_in in emsps:
            await stand_in.stop()
        for violation in hub.violations:
            print(f"routing violation: {violation}", flush=True)


async def _emsp(args: argparse.Namespace) -> None:
    kind = SimulatedEmsp211 if args.ocpi == "2.1.1" else SimulatedEmsp
    stand_in = kind(args.country_code, args.party_id)
    stand_in.on_receive = _print_ocpi
    for uid in args.token or []:
        # Listed on its Tokens Sender (the CSMS pulls them after registering), and ALLOWED:
        # asked about in real time at the charger too.
        stand_in.list_token(uid, whitelist="ALLOWED")
    await stand_in.start(args.host, args.port)
    print(f"simulated OCPI {args.ocpi} eMSP {args.country_code}*{args.party_id} at "
          f"{stand_in.versions_url}\n"
          f"register with it: csms ocpi register {stand_in.versions_url} {stand_in.token_a} "
          f"--party {args.country_code}*{args.party_id}",
          flush=True)
    await _until_interrupted(stand_in.stop)


async def _remote(args: argparse.Namespace) -> None:
    """One EMP request relayed by Hubject to the CPO, and the CPO's acknowledgement."""
    stand_in = SimulatedHubject()
    body = {"SessionID": args.session or str(uuid.uuid4()), "ProviderID": args.provider,
            "EvseID": args.evse}
    if args.command == "remote-start":
        body["Identification"] = {"RemoteIdentification": {"EvcoID": args.evco}}
        answer = await stand_in.remote_start(args.cpo, body)
    else:
        answer = await stand_in.remote_stop(args.cpo, body)
    print(json.dumps(answer, indent=2))


def parser() -> argparse.ArgumentParser:
    """`csms-sim`'s arguments; every `--help` shows the defaults (as `csms`'s do)."""
    parser: argparse.ArgumentParser = Parser(prog="csms-sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("charge-point", help="one charger, until Ctrl-C")
    one.add_argument("--id", required=True)
    one.add_argument("--connectors", type=int, default=1)
    one.add_argument("--power", type=int, default=11000, help="W while charging")
    one.add_argument("--password", help="HTTP Basic password (user = the charger id)")
    one.add_argument("--local-session", metavar="TOKEN", help="start a session with this RFID")
    one.add_argument("--session-seconds", type=float, default=60)
    one.add_argument("--exit-after-session", action="store_true")
    one.add_argument("--iso15118", action="store_true",
                     help="2.0.1: the car says its needs and schedule (ISO 15118, K15-K17)")
    one.add_argument("--charging-limit", metavar="SOURCE=AMPS",
                     help="2.0.1: tell of an external limit after boot (SOURCE: EMS, SO, Other)")
    one.set_defaults(run=_charge_point)
    fleet = commands.add_parser("fleet", help="many chargers for load, for --duration seconds")
    fleet.add_argument("--count", type=int, default=100)
    fleet.add_argument("--duration", type=float, default=60)
    fleet.add_argument("--prefix", default="FLEET")
    fleet.add_argument("--heartbeat", type=float, help="seconds (default: as the CSMS says)")
    fleet.add_argument("--token", help="run a local session with this token on every charger")
    fleet.set_defaults(run=_fleet)
    hubject = commands.add_parser("hubject", help="a simulated Hubject printing what it receives")
    hubject.add_argument("--host", default="127.0.0.1")
    hubject.add_argument("--port", type=int, default=9500)
    hubject.add_argument("--card", action="append", metavar="UID[=PROVIDER]",
                         help="an RFID UID its EMP (default --provider) authorizes "
                              "(AuthorizeStart), repeatable")
    hubject.add_argument("--provider", default="DE-8EO")
    hubject.add_argument("--offline-provider", action="append", metavar="PROVIDER",
                         help="an EMP whose system is offline but whose cards Hubject holds as "
                              "authentication data: Hubject authorizes them itself, repeatable")
    hubject.add_argument("--unreachable-provider", action="append", metavar="PROVIDER",
                         help="an EMP that cannot be reached, with no authentication data: "
                              "its cards get NotAuthorized (310), repeatable")
    hubject.add_argument("--down", action="store_true",
                         help="an outage: every request gets HTTP 503")
    hubject.set_defaults(run=_hubject)
    emsp = commands.add_parser("emsp", help="a simulated OCPI eMSP printing what it receives")
    emsp.add_argument("--host", default="127.0.0.1")
    emsp.add_argument("--port", type=int, default=9600)
    emsp.add_argument("--country-code", default="NL")
    emsp.add_argument("--party-id", default="EMS")
    emsp.add_argument("--token", action="append",
                      help="an RFID uid its drivers use, listed on its Tokens Sender, repeatable")
    emsp.add_argument("--ocpi", choices=["2.2.1", "2.1.1"], default="2.2.1",
                      help="the OCPI version it speaks (2.1.1: only that one)")
    emsp.set_defaults(run=_emsp)
    hub = commands.add_parser("hub", help="a simulated OCPI hub fronting two eMSPs (NL*EMS, BE*OTH)")
    hub.add_argument("--host", default="127.0.0.1")
    hub.add_argument("--port", type=int, default=9700)
    hub.add_argument("--party", default="NL*HUB", help="the hub's own COUNTRY*PARTY")
    hub.add_argument("--token", action="append", help="an RFID uid NL*EMS's drivers use, repeatable")
    hub.set_defaults(run=_hub)
    balancer = commands.add_parser("balancer", help="a TCP balancer in front of several nodes")
    balancer.add_argument("--host", default="127.0.0.1")
    balancer.add_argument("--port", type=int, default=9000)
    balancer.add_argument("--backend", action="append", required=True,
                          help="host:port of a node's OCPP port, in order of preference")
    balancer.add_argument("--stall-warning", type=float, default=0.25,
                          help="seconds: a stall of its event loop this long is logged, with where")
    balancer.add_argument("--reuse-port", action="store_true",
                          help="share the port with other balancer processes (SO_REUSEPORT)")
    balancer.set_defaults(run=_balancer)
    for name, text in (("remote-start", "an EMP's remote start, through Hubject, to the CPO"),
                       ("remote-stop", "an EMP's remote stop (give --session)")):
        remote = commands.add_parser(name, help=text)
        remote.add_argument("--cpo", default="http://127.0.0.1:9443",
                            help="where the CPO serves Hubject")
        remote.add_argument("--evse", required=True, help="EvseID, e.g. DE*ABC*E0001*1")
        remote.add_argument("--session", help="Hubject SessionID (new one for a start)")
        remote.add_argument("--evco", default="DE-8EO-CAet5e4XY-3", help="the driver's EvcoID")
        remote.add_argument("--provider", default="DE-8EO")
        remote.set_defaults(run=_remote)
    for sub in (one, fleet):
        sub.add_argument("--protocol", choices=["1.6", "2.0.1"], default="1.6")
        sub.add_argument("--url", default="ws://127.0.0.1:9000/ocpp")
        sub.add_argument("--meter-interval", type=float,
                         help="real seconds between meter values; each stands for 15 minutes")
    return parser


def main() -> None:
    args = parser().parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(args.run(args))


if __name__ == "__main__":
    main()
