"""The local Prefect server the CLI starts on first use: `python -m cli.local_server HOST PORT`.

It is Prefect's own server, run as `prefect server start` runs it in the foreground: the app of
`create_app` (the API, the UI, every service: scheduler, leases of the global concurrency limits,
late runs, the event and task-run recorders) under uvicorn, with the same settings. Two things make
its start shorter, the first one most (a first start goes through every Prefect database migration
on a new SQLite file):

* the database migrations run in a second process, started before anything else, while this one
  imports the server and builds its app; the server's own start-up migration then finds the
  database current (and still migrates whatever that process could not);
* start-up runs without the cyclic garbage collector (imports and migrations make a great many
  objects and no garbage worth collecting); it is turned back on, with what start-up made frozen,
  once the server has started.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
ASGIApp = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

MIGRATE = "--migrate"


def migrate() -> None:
    """Bring the server's database to Prefect's current schema (the server's start-up step), then
    leave without tearing the interpreter down: the server waits for this process to end."""
    gc.disable()
    import asyncio

    from prefect.server.database import provide_database_interface

    asyncio.run(provide_database_interface().create_db())
    sys.stderr.flush()
    os._exit(0)


class CollectAfterStartup:
    """An ASGI app that turns the garbage collector back on once the wrapped app has started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_then_collect(message: Message) -> None:
            if message["type"] in ("lifespan.startup.complete", "lifespan.startup.failed"):
                gc.freeze()
                gc.enable()
            await send(message)

        await self.app(scope, receive, send_then_collect)


def serve(host: str, port: int) -> None:
    gc.disable()
    migration = subprocess.Popen([sys.executable, "-m", "cli.local_server", MIGRATE], stdin=subprocess.DEVNULL)
    import uvicorn
    from prefect.server.api.server import create_app
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    app = create_app(final=True)
    migration.wait()  # however it ended, the server's start-up migrates what is left
    uvicorn.run(
        CollectAfterStartup(app),
        host=host,
        port=port,
        timeout_keep_alive=settings.server.api.keepalive_timeout,
        ws_ping_interval=settings.server.api.websocket_ping_interval,
        ws_ping_timeout=settings.server.api.websocket_ping_timeout,
        log_level=str(settings.server.logging_level).lower(),
    )


def main(argv: list[str]) -> None:
    if argv == [MIGRATE]:
        migrate()
        return
    if len(argv) != 2 or not argv[1].isdigit():
        raise SystemExit(f"usage: python -m cli.local_server HOST PORT | {MIGRATE}")
    serve(argv[0], int(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
