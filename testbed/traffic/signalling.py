"""The signalling server of webrtc calls, run on its own topology node:

    python3 -m testbed.traffic.signalling ADDRESS PORT TRANSCRIPT

Offers and answers travel over TCP, as a messenger's do (the path censors leave alone while
they throttle the calls themselves). Each peer connects, says which side it is, and then
sends newline-delimited JSON messages; the server forwards each to the other side, holding
them until that side has connected, and appends it to TRANSCRIPT (the offers and answers,
with every ICE candidate, for people to read). It prints "ready" once it listens and stops at the end
of its standard input (or on SIGTERM).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

SIDES = ("caller", "callee")
MAX_LINE = 1 << 20  # an SDP with every candidate is a few kB; a megabyte is a broken peer


def encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a signalling message is a JSON object")
    return message


def readable(message: dict, to: str) -> str:
    """A transcript entry: who got what when, and an offer's or answer's SDP as written."""
    kind = next((k for k in ("offer", "answer") if k in message), None)
    head = f"{time.strftime('%H:%M:%S')} to {to}: call {message.get('call')} {kind or json.dumps(message)}\n"
    return head + ("".join(f"    {line}\n" for line in str(message[kind]).splitlines()) if kind else "")


def other(side: str) -> str:
    return SIDES[1 - SIDES.index(side)]


class Relay:
    """Forwards each side's messages to the other, in order, holding them until it connects."""

    def __init__(self, transcript: Path | None = None) -> None:
        self.writers: dict[str, asyncio.StreamWriter] = {}
        self.held: dict[str, list[bytes]] = {side: [] for side in SIDES}
        self.transcript = transcript

    def deliver(self, side: str, line: bytes) -> None:
        if self.transcript is not None:
            with self.transcript.open("a") as out:
                out.write(readable(decode(line), side))
        writer = self.writers.get(side)
        if writer is None:
            self.held[side].append(line)
        else:
            writer.write(line)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        side = None
        try:
            hello = decode(await reader.readline())
            side = hello.get("hello")
            if side not in SIDES or side in self.writers:
                return
            self.writers[side] = writer
            for line in self.held[side]:
                writer.write(line)
            self.held[side].clear()
            while line := await reader.readline():
                decode(line)  # forward only what parses: a garbled line ends this peer, not the other
                self.deliver(other(side), line)
        except (ValueError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if side is not None and self.writers.get(side) is writer:
                del self.writers[side]
            writer.close()


async def _serve(address: str, port: int, transcript: Path) -> None:
    relay = Relay(transcript)
    server = await asyncio.start_server(relay.serve, address, port, limit=MAX_LINE)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1() or done.set())
    print("ready", flush=True)
    async with server:
        await done.wait()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m testbed.traffic.signalling ADDRESS PORT TRANSCRIPT", file=sys.stderr)
        return 2
    asyncio.run(_serve(argv[0], int(argv[1]), Path(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
