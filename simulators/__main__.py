"""`python -m simulators` / `csms-sim`: run one simulated charger or a fleet."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from simulators.chargepoint import SimConfig
from simulators.fleet import make_charge_point, run_fleet


async def _charge_point(args: argparse.Namespace) -> None:
    sim = make_charge_point(args.protocol, SimConfig(
        charge_point_id=args.id, url=args.url, connectors=args.connectors,
        meter_interval=args.meter_interval, power_w=args.power, password=args.password))
    await sim.start()
    print(f"{args.id} connected ({sim.subprotocol}), boot {sim.boot_status}")
    try:
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="csms-sim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("charge-point", help="one charger, until Ctrl-C")
    one.add_argument("--id", required=True)
    one.add_argument("--connectors", type=int, default=1)
    one.add_argument("--power", type=int, default=11000, help="W while charging")
    one.add_argument("--password", help="HTTP Basic password (user = the charger id)")
    one.add_argument("--local-session", metavar="TOKEN", help="start a session with this RFID")
    one.add_argument("--session-seconds", type=float, default=60)
    one.add_argument("--exit-after-session", action="store_true")
    one.set_defaults(run=_charge_point)
    fleet = commands.add_parser("fleet", help="many chargers for load, for --duration seconds")
    fleet.add_argument("--count", type=int, default=100)
    fleet.add_argument("--duration", type=float, default=60)
    fleet.add_argument("--prefix", default="FLEET")
    fleet.add_argument("--heartbeat", type=float, help="seconds (default: as the CSMS says)")
    fleet.add_argument("--token", help="run a local session with this token on every charger")
    fleet.set_defaults(run=_fleet)
    for sub in (one, fleet):
        sub.add_argument("--protocol", choices=["1.6", "2.0.1"], default="1.6")
        sub.add_argument("--url", default="ws://127.0.0.1:9000/ocpp")
        sub.add_argument("--meter-interval", type=float,
                         help="real seconds between meter values; each stands for 15 minutes")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(args.run(args))


if __name__ == "__main__":
    main()
