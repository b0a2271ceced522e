"""NFQUEUE over netlink: receive queued packets, answer each with a verdict and a packet mark.

A small binding of our own, on a plain AF_NETLINK socket (include/uapi/linux/netfilter/
nfnetlink_queue.h), rather than NetfilterQueue (builds from source against
libnetfilter-queue, so a compiler and headers in the VM image and on every gateway) or
fnfqueue (a cp311 wheel only): the reader needs four messages (bind, copy mode, packet,
verdict with mark), and a pure-Python binding runs unchanged in the virtualenv, in the
VM image's Debian Python and on a gateway.

The verdict sets the packet's mark (NFQA_MARK); the censor's nft rules copy its reader
bits into the connection's mark. Setting the conntrack mark in the verdict itself (NFQA_CT)
needs CONFIG_NETFILTER_NETLINK_GLUE_CT, which this machine's kernel lacks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFNETLINK_V0 = 0

NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2

NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_PACKET = 2
NFQA_CFG_F_FAIL_OPEN = 0x1  # the kernel accepts, not drops, when our queue is full

NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_MARK = 3
NFQA_PAYLOAD = 10

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_TYPE_MASK = 0x3FFF

NF_DROP = 0
NF_ACCEPT = 1

_NLMSGHDR = struct.Struct("=IHHII")
_NFGENMSG = struct.Struct("!BBH")  # family, version, queue number (big-endian)
_NLA = struct.Struct("=HH")
_PACKET_HDR = struct.Struct("!IHB")


class QueueError(OSError):
    pass


@dataclass(frozen=True)
class Packet:
    """One queued packet: its id (for the verdict), its bytes from the IP header on, and the
    mark it carried when it was queued."""

    packet_id: int
    payload: bytes
    mark: int = 0


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attr(kind: int, value: bytes) -> bytes:
    return _NLA.pack(_NLA.size + len(value), kind) + value + b"\0" * (_align(len(value)) - len(value))


def message(msg_type: int, queue: int, attrs: bytes, flags: int = NLM_F_REQUEST, seq: int = 0,
            family: int = socket.AF_UNSPEC) -> bytes:
    body = _NFGENMSG.pack(family, NFNETLINK_V0, queue) + attrs
    header = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0)
    return header + body


def verdict_message(queue: int, packet_id: int, verdict: int, mark: int | None = None) -> bytes:
    """A verdict; with `mark`, the packet's whole mark becomes `mark` (nfqnl_recv_verdict())."""
    attrs = _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id))
    if mark is not None:
        attrs += _attr(NFQA_MARK, struct.pack("!I", mark))
    return message(NFQNL_MSG_VERDICT, queue, attrs)


def config_message(queue: int, command: int | None = None, copy_range: int | None = None,
                   fail_open: bool = False, seq: int = 0) -> bytes:
    attrs = b""
    if command is not None:
        attrs += _attr(NFQA_CFG_CMD, struct.pack("!BxH", command, 0))
    if copy_range is not None:
        attrs += _attr(NFQA_CFG_PARAMS, struct.pack("!IB", copy_range, NFQNL_COPY_PACKET))
        flag = NFQA_CFG_F_FAIL_OPEN if fail_open else 0
        attrs += _attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
        attrs += _attr(NFQA_CFG_FLAGS, struct.pack("!I", flag))
    return message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq)


def attributes(data: bytes | memoryview, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Attribute type -> (offset, length) of its value, within data[start:end]."""
    found: dict[int, tuple[int, int]] = {}
    at = start
    while at + _NLA.size <= end:
        length, kind = _NLA.unpack_from(data, at)
        if length < _NLA.size or at + length > end:
            break
        found[kind & NLA_TYPE_MASK] = (at + _NLA.size, length - _NLA.size)
        at += _align(length)
    return found


def parse_messages(data: bytes) -> Iterator[Packet | int]:
    """Queued packets, and the error codes of acknowledgements (0 for success)."""
    at = 0
    while at + _NLMSGHDR.size <= len(data):
        length, msg_type, _, _, _ = _NLMSGHDR.unpack_from(data, at)
        if length < _NLMSGHDR.size or at + length > len(data):
            return
        if msg_type == NLMSG_ERROR:
            yield -struct.unpack_from("=i", data, at + _NLMSGHDR.size)[0]
        elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            attrs = attributes(data, at + _NLMSGHDR.size + _NFGENMSG.size, at + length)
            if NFQA_PACKET_HDR in attrs and NFQA_PAYLOAD in attrs:
                hdr_at, _ = attrs[NFQA_PACKET_HDR]
                start, size = attrs[NFQA_PAYLOAD]
                mark_at, mark_size = attrs.get(NFQA_MARK, (0, 0))
                mark = struct.unpack_from("!I", data, mark_at)[0] if mark_size == 4 else 0
                yield Packet(_PACKET_HDR.unpack_from(data, hdr_at)[0], data[start:start + size], mark)
        at += _align(length)


class Queue:
    """A bound NFQUEUE queue. Packets arrive whole up to `copy_range` bytes."""

    def __init__(self, number: int, copy_range: int = 0xFFFF, fail_open: bool = True,
                 receive_buffer: int = 4 << 20):
        self.number = number
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.sock.bind((0, 0))
            # ENOBUFS (the kernel dropped messages for us) should not end the reader
            self.sock.setsockopt(270, 5, 1)  # SOL_NETLINK, NETLINK_NO_ENOBUFS
            self._configure(config_message(number, NFQNL_CFG_CMD_BIND, seq=1))
            self._configure(config_message(number, copy_range=copy_range, fail_open=fail_open, seq=2))
        except OSError:
            self.sock.close()
            raise
        self._buffer = bytearray(copy_range + 4096)

    def _configure(self, request: bytes) -> None:
        self.sock.send(request)
        while True:
            for item in parse_messages(self.sock.recv(65536)):
                if isinstance(item, int):
                    if item:
                        raise QueueError(item, f"NFQUEUE {self.number}: {os.strerror(item)}")
                    return

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[Packet]:
        """The packets of one read (blocking); an empty list after an interrupted read."""
        try:
            size = self.sock.recv_into(self._buffer)
        except (InterruptedError, TimeoutError):
            return []
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return []
            raise
        return [p for p in parse_messages(bytes(self._buffer[:size])) if isinstance(p, Packet)]

    def verdict(self, packet_id: int, verdict: int = NF_ACCEPT, mark: int | None = None) -> None:
        self.sock.send(verdict_message(self.number, packet_id, verdict, mark))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(config_message(self.number, NFQNL_CFG_CMD_UNBIND))
        self.sock.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
