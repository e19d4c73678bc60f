"""A TCP delay line: what a registry a few milliseconds away looks like to its clients.

Listens on a loopback port and relays every connection to ``--target``; every chunk read on
either side is written to the other side ``--delay-ms`` later, in the order it was read (the
delay is a latency, not a throughput limit: chunks in flight overlap), and every new connection
waits ``--delay-ms`` once before the target is dialled. A request/response exchange on a
kept-alive connection thus costs two delays more than without the line, a new connection three.
A half-close (EOF) travels with the same delay; a reset on one side closes both.

    .venv/bin/python bench/delay_line.py --target 127.0.0.1:5000 --delay-ms 25 [--listen 127.0.0.1:0]

prints ``listening on HOST:PORT`` once it accepts, and on SIGTERM or SIGINT one line of counts
(connections, chunks and bytes each way, its own CPU seconds) to stderr. ``DelayLineProcess``
runs it from another script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 65536


@dataclass
class Counts:
    connections: int = 0
    failed_dials: int = 0
    chunks: dict[str, int] = field(default_factory=lambda: {"to target": 0, "to client": 0})
    bytes: dict[str, int] = field(default_factory=lambda: {"to target": 0, "to client": 0})

    def line(self) -> str:
        ways = ", ".join(f"{way}: {self.chunks[way]} chunks, {self.bytes[way]} bytes" for way in self.chunks)
        return (
            f"delay line: {self.connections} connections ({self.failed_dials} could not reach the target); {ways}; "
            f"{time.process_time():.1f} CPU s"
        )


class DelayLine:
    def __init__(self, target_host: str, target_port: int, delay_ms: float) -> None:
        self.target_host, self.target_port = target_host, target_port
        self.delay = delay_ms / 1000.0
        self.counts = Counts()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str) -> None:
        """Copy ``reader`` to ``writer``, each chunk ``delay`` after it was read, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def take_in() -> None:
            try:
                while True:
                    data = await reader.read(CHUNK)
                    queue.put_nowait((loop.time() + self.delay, data))
                    if not data:
                        return
            except OSError:
                queue.put_nowait((loop.time(), b""))
                raise

        async def give_out() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()
                    return
                self.counts.chunks[way] += 1
                self.counts.bytes[way] += len(data)
                writer.write(data)
                await writer.drain()

        await asyncio.gather(take_in(), give_out())

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # the line stopping with connections open
            await self._connection(client_reader, client_writer)

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.counts.connections += 1
        await asyncio.sleep(self.delay)  # the connection's own delay, once
        try:
            target_reader, target_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self.counts.failed_dials += 1
            client_writer.close()
            return
        relays = [
            asyncio.ensure_future(self._relay(client_reader, target_writer, "to target")),
            asyncio.ensure_future(self._relay(target_reader, client_writer, "to client")),
        ]
        try:
            # both ways end with an EOF; an error on either (a reset) ends the connection at once
            await asyncio.wait(relays, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for relay in relays:
                relay.cancel()
            for writer in (client_writer, target_writer):
                writer.close()
            for relay in relays:
                with contextlib.suppress(BaseException):
                    await relay
            for writer in (client_writer, target_writer):
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def serve(line: DelayLine, listen_host: str, listen_port: int) -> None:
    server = await asyncio.start_server(line.handle, listen_host, listen_port, backlog=512)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(line.counts.line(), file=sys.stderr, flush=True)


class DelayLineProcess:
    """The line in a process of its own in front of ``target`` (HOST:PORT); its ``address``."""

    def __init__(self, target: str, delay_ms: float, log: Path) -> None:
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--target", target, "--delay-ms", f"{delay_ms:g}"],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self.log = log
        first = self.process.stdout.readline() if self.process.stdout else ""
        if not first.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the delay line did not start: {first!r} {log.read_text(errors='replace')[-2000:]}")
        self.address = first.split()[-1]

    def stop(self) -> str:
        """Stop it (if it runs); its counts."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "delay line: no counts"


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=address, required=True, help="HOST:PORT relayed to")
    parser.add_argument("--delay-ms", type=float, required=True, help="added each way, and once per new connection")
    parser.add_argument("--listen", type=address, default=("127.0.0.1", 0), help="HOST:PORT (port 0: a free one)")
    args = parser.parse_args()
    if args.delay_ms < 0:
        parser.error("--delay-ms must not be negative")
    asyncio.run(serve(DelayLine(*args.target, args.delay_ms), *args.listen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
