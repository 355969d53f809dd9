"""`parley up`, `worker`, `api`, `migrate`, `seed`: run the stack or its parts."""

from __future__ import annotations

import argparse
import asyncio
import json

from cli.common import Commands, command, migrated_engine
from settings import Settings


def register(commands: Commands) -> None:
    up_command = command(commands, "up", "start the embedded stack: Temporal dev server, workers and API", up)
    up_command.add_argument("--workers", type=int, default=1, metavar="N",
                            help="worker processes (default 1; with PARLEY_WORKER_METRICS_PORT, worker i serves "
                                 "its metrics on that port + i - 1)")
    up_command.add_argument("--apis", type=int, default=1, metavar="M",
                            help="API processes (default 1); with more than one they listen on PARLEY_HTTP_PORT + "
                                 "1 … + M behind a round-robin front on PARLEY_HTTP_PORT")
    up_command.add_argument("--delivery-workers", type=int, default=0, metavar="K",
                            help="processes that deliver notices and webhooks, at a lower CPU priority, while the "
                                 "workers run the workflows only (default 0: the workers deliver too)")
    command(commands, "worker", "run the Temporal worker (PARLEY_WORKER_ROLE: all, workflows or deliveries)",
            worker)
    api_command = command(commands, "api", "serve the HTTP API", api)
    api_command.add_argument("--port", type=int, metavar="P",
                             help="listen on this port instead of PARLEY_HTTP_PORT (one per API process on a host)")
    command(commands, "migrate", "bring the database schema up to date", migrate)
    command(commands, "seed", "create the demo users and print their tokens", seed)


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from store.db import migrate as run_migrations

    run_migrations(settings.db_url)
    print(f"database at {settings.db_url} is up to date")
    return 0


def seed(args: argparse.Namespace, settings: Settings) -> int:
    from ops.seed import seed_demo_users

    tokens = seed_demo_users(migrated_engine(settings), settings.data_dir / "demo-tokens.json")
    print(json.dumps(tokens, indent=2))
    return 0


def up(args: argparse.Namespace, settings: Settings) -> int:
    from ops.seed import seed_demo_users
    from ops.stack import check_layout, run_stack

    check_layout(settings, args.workers, args.apis, args.delivery_workers)  # before touching the store
    tokens = seed_demo_users(migrated_engine(settings), settings.data_dir / "demo-tokens.json")

    def banner() -> str:
        port = settings.temporal_dev_port
        ui = f"http://127.0.0.1:{port + 1000}" if not settings.temporal_address else "(external cluster)"
        lines = [
            "",
            "Parley is up.",
            f"  API           {settings.base_url}",
            f"  OpenAPI docs  {settings.base_url}/docs",
            f"  Temporal UI   {ui}",
            f"  Temporal      {settings.temporal_target}",
            f"  Data          {settings.data_dir}",
        ]
        if args.workers > 1 or args.apis > 1 or args.delivery_workers:
            apis = (f"{args.apis} API processes on :{settings.http_port + 1}-{settings.http_port + args.apis}"
                    " behind the front" if args.apis > 1 else "1 API process")
            deliveries = f", {args.delivery_workers} delivery worker(s)" if args.delivery_workers else ""
            lines.append(f"  Processes     {args.workers} worker(s){deliveries}, {apis}")
        lines.append("  Demo users (Authorization: Bearer <token>):")
        lines += [f"    {email:<28} {token}" for email, token in tokens.items()]
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)

    return run_stack(settings, banner, workers=args.workers, apis=args.apis, delivery_workers=args.delivery_workers)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from ops.logs import configure_logging
    from worker import lower_priority, run_worker

    lower_priority(settings)  # before the Temporal runtime's threads exist: each keeps its maker's niceness
    configure_logging(settings)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(serve())
    return 0


def api(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from api.app import create_app
    from ops.logs import configure_logging

    configure_logging(settings)
    # uvicorn's own lines go through the same handler when they are JSON
    log_config = LOGGING_CONFIG if settings.log_format == "plain" else None
    port = settings.http_port if args.port is None else args.port
    uvicorn.run(create_app(settings), host=settings.http_host, port=port,
                log_level="warning", access_log=False, log_config=log_config)
    return 0
