"""Traffic-control handles and the few tc netlink operations every module shares.

A tc handle is 32 bits, `major:minor` in hex (tc writes `1:a`); the root qdisc's parent
is TC_H_ROOT (include/uapi/linux/pkt_sched.h).
"""

from __future__ import annotations

import errno

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import TC_H_ROOT

ROOT_HANDLE = 0x10000  # "1:", the handle of every root qdisc the testbed installs
__all__ = ["ROOT_HANDLE", "TC_H_ROOT", "delete_root", "format_handle", "parse_handle"]


def parse_handle(text: str) -> int:
    """`1:a` -> 0x1000a."""
    major, _, minor = text.partition(":")
    return (int(major or "0", 16) << 16) | int(minor or "0", 16)


def format_handle(handle: int) -> str:
    """0x1000a -> `1:a`."""
    return f"{handle >> 16:x}:{handle & 0xFFFF:x}"


def delete_root(ipr, index: int) -> None:
    """Remove the root qdisc of an interface; an interface that has none is fine.

    The kernel answers ENOENT when there is no qdisc to delete and EINVAL when the root
    is the default (noqueue/pfifo_fast) one, which cannot be deleted.
    """
    try:
        ipr.tc("del", index=index, handle=ROOT_HANDLE, root=True)
    except NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.EINVAL):
            raise
