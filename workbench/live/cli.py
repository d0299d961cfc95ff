"""``workbench feed`` and ``workbench poll``, registered by ``workbench.cli`` through :func:`add_parser`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from workbench.errors import SourceError


def add_parser(subparsers) -> None:
    """Register ``feed`` and ``poll`` on an argparse ``subparsers`` object."""
    feed = subparsers.add_parser(
        "feed", help="replay a scenario as a live source, in accelerated real time",
        description="Replay a scenario's calls, incidents, cases, gunshot alerts and ALPR reads into a live "
                    "target as they would arrive, SPEED times faster than real time.")
    feed.add_argument("--scenario", default=None, help="scenario folder (default: the committed data/sample)")
    feed.add_argument("--to", required=True, metavar="TARGET",
                      help="postgresql://USER@HOST:PORT/DB, duckdb:PATH, http://127.0.0.1:PORT (serves a "
                           "SODA endpoint at /resource/TABLE.json) or dir:PATH (CSV drops per table)")
    feed.add_argument("--speed", type=float, default=60.0, help="scenario seconds per second (default 60)")
    feed.add_argument("--start", default=None, help="scenario time to begin at (default: start of the ALPR period)")
    feed.add_argument("--duration", type=float, default=None, help="stop after this many wall-clock seconds")
    feed.add_argument("--tables", default=None, help="comma-separated tables (default: all replayed tables)")
    feed.add_argument("--tick", type=float, default=0.25, help="seconds between writes (default 0.25)")
    feed.add_argument("--backfill", action="store_true", help="write everything before --start on the first tick")
    feed.add_argument("--quiet", action="store_true", help="no progress lines")
    feed.set_defaults(func=cmd_feed)

    poll = subparsers.add_parser(
        "poll", help="run the pollers of a sources.yaml as a service",
        description="Keep the store current from the sources in a YAML config (see workbench.live.service); "
                    "stops cleanly on Ctrl-C or SIGTERM.")
    poll.add_argument("--config", required=True, help="sources.yaml")
    poll.add_argument("--store", default=None, help="DuckDB store (default: the config's 'store')")
    poll.add_argument("--once", action="store_true", help="run one cycle of every source and exit")
    poll.add_argument("--status-every", type=float, default=30.0, help="seconds between health lines")
    poll.add_argument("--verbose", action="store_true", help="log every page fetched and stored")
    poll.set_defaults(func=cmd_poll)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_feed(args) -> int:
    """Run the feed until the scenario ends, ``--duration`` passes or a signal arrives."""
    from workbench.live.feed import REPLAYED, Replay, open_target, run_feed
    from workbench.sample import Scenario, load_sample

    scenario = Scenario.load(args.scenario) if args.scenario else load_sample()
    wanted = args.tables.split(",") if args.tables else list(REPLAYED)
    unknown = [t for t in wanted if t not in REPLAYED]
    if unknown:
        raise SourceError(f"the feed replays {', '.join(REPLAYED)}; not {', '.join(unknown)}")
    replay = Replay({t: getattr(scenario, t) for t in wanted}, start=args.start, speed=args.speed,
                    backfill=args.backfill)
    target = open_target(args.to)
    where = target.server.url() if hasattr(target, "server") else args.to
    print(f"feeding {', '.join(replay.versions)} from {replay.start:%Y-%m-%d %H:%M} UTC at {args.speed:g}x "
          f"to {where}", flush=True)
    stop = _stop_on_signals()
    last = [0.0]

    def progress(sim_now, written):
        import time

        if not args.quiet and time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            print(f"  {sim_now:%Y-%m-%d %H:%M:%S}  " + ", ".join(f"{t} +{n}" for t, n in written.items()), flush=True)

    try:
        stats = run_feed(replay, target, tick_s=args.tick, duration_s=args.duration, on_tick=progress, stop=stop)
    finally:
        target.close()
    print(f"fed {sum(stats.rows.values()):,} record versions in {stats.seconds:.1f} s: "
          + ", ".join(f"{t} {n:,}" for t, n in stats.rows.items()), flush=True)
    return 0


def cmd_poll(args) -> int:
    """Run the configured pollers (``--once``: one cycle each) and report their health."""
    from workbench.data import Store
    from workbench.live.service import PollService, load_config

    config = load_config(args.config)
    store_path = args.store or config.get("store")
    if not store_path:
        raise SourceError("no store: give --store or 'store:' in the config")
    if args.verbose:
        logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    with Store(store_path) as store:
        service = PollService(config, store, max_pages=10_000 if args.once else 100)
        if args.once:
            results = service.run_once()
            for poller in service.pollers:
                print(poller.health.summary(), flush=True)
            return 0 if all(not isinstance(r, str) for r in results.values()) else 1
        stop = _stop_on_signals()
        print(f"polling {len(service.pollers)} source(s) into {store_path}; Ctrl-C to stop", flush=True)
        service.run(stop, status_every_s=args.status_every, report=lambda line: print(line, flush=True))
    return 0


def main(argv=None) -> int:
    """Run ``feed`` / ``poll`` on their own (``python -m workbench.live.cli feed --to …``)."""
    from workbench.cli import main as workbench_main

    return workbench_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
