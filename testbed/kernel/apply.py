"""Plan -> live kernel state, and back. The only code that changes tc/nft state.

apply(): probe features and dry-run the nft ruleset (nothing changes if either fails),
skip if the kernel already holds this Plan, build the htb trees through netlink
(pyroute2), load the nft ruleset atomically, then read everything back and compare.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2.netlink.exceptions import NetlinkError

from testbed.compile.plan import InterfacePlan, NetemLeaf, PfifoLeaf, Plan, TbfLeaf
from testbed.compile.render import nft_ruleset, sysctls
from testbed.errors import KernelFeatureMissing
from testbed.kernel import netem, netns, probe, readers
from testbed.kernel.readback import ApplyError, device_index, differences
from testbed.kernel.tc import ROOT_HANDLE, delete_root
from testbed.kernel.tc import parse_handle as _handle

__all__ = ["ApplyError", "ApplyResult", "apply", "check_plan", "clear", "clear_devices", "differences"]


@dataclass(frozen=True)
class ApplyResult:
    changed: bool


def _build_interface(ipr, item: InterfacePlan) -> None:
    index = device_index(ipr, item.device)
    delete_root(ipr, index)
    ipr.tc("add", "htb", index, ROOT_HANDLE, root=True, default=item.default_minor)
    for cls in item.classes:
        ipr.tc("add-class", "htb", index, _handle(cls.classid), parent=_handle(cls.parent),
               rate=cls.rate_bps // 8, ceil=cls.ceil_bps // 8, burst=cls.burst_bytes,
               cburst=cls.burst_bytes)
    for leaf in item.leaves:
        handle, parent = _handle(leaf.handle), _handle(leaf.parent)
        match leaf:
            case NetemLeaf():
                ipr.tc("add", "netem", index, handle, parent=parent, netem_params=leaf.netem)
            case TbfLeaf():  # pyroute2 takes bytes per second and microseconds
                ipr.tc("add", "tbf", index, handle, parent=parent, rate=leaf.rate_bps // 8,
                       burst=leaf.burst_bytes, latency=leaf.latency_ns // 1000)
            case PfifoLeaf():
                ipr.tc("add", "pfifo", index, handle, parent=parent, limit=leaf.limit)


# nft's words when the kernel lacks what a rule needs (a module, an expression), as
# opposed to a ruleset it cannot parse (a bug in the compiler)
_UNSUPPORTED = ("Operation not supported", "No such file or directory", "Protocol not supported")


def _refused(stderr: str) -> Exception:
    text = stderr.strip()
    if any(word in text for word in _UNSUPPORTED):
        return KernelFeatureMissing(f"this kernel cannot load the profile's nft ruleset (a netfilter "
                                    f"feature is missing): {text}")
    return ApplyError(f"nft refused the ruleset the compiler wrote (a testbed bug; please report it): "
                      f"{text}")


def check_plan(plan: Plan, ns: str | None, dry_run: bool = True) -> None:
    """Everything that can fail without changing anything: features, devices, nft dry run."""
    probe.require(plan.features)
    for item in plan.interfaces:  # read now: missing, it would stop the apply half-way
        for leaf in item.leaves:
            if isinstance(leaf, NetemLeaf) and leaf.netem.distribution:
                netem.distribution_table(leaf.netem.distribution)
    with netns.route(ns) as ipr:
        for item in plan.interfaces:
            device_index(ipr, item.device)
    if plan.reader is not None:
        readers.queue_form()  # iptables, where the kernel needs it and it is missing: exit 3 now
    if not dry_run:
        return
    ruleset = nft_ruleset(readers.installed_nft(plan), plan.digest)
    result = netns.run(ns, ["nft", "-c", "-f", "-"], stdin=ruleset, check=False)
    if result.returncode != 0:
        raise _refused(result.stderr)


def apply(plan: Plan, ns: str | None) -> ApplyResult:
    netem.install()
    # no nft dry run here: the real load comes first and is atomic, so a refused ruleset
    # changes nothing either
    check_plan(plan, ns, dry_run=False)
    if not differences(plan, ns):
        return ApplyResult(changed=False)
    try:
        if plan.reader is not None:  # listening before any rule queues to it
            readers.start(plan.reader, ns, plan.nft.table)
        else:  # the profile before may have read: no queue rule may stay without its reader
            readers.retire(ns, plan.nft.table)
        ruleset = nft_ruleset(readers.installed_nft(plan), plan.digest)
        result = netns.run(ns, ["nft", "-f", "-"], stdin=ruleset, check=False)
        if result.returncode != 0:
            raise _refused(result.stderr)
        if plan.reader is not None and readers.queue_form() == "iptables":
            readers.add_xt_rules(plan.reader, ns, plan.nft.table)
        netns.write_sysctls(ns, dict(sysctls(plan)))  # after nft: the ruleset's ct match loads conntrack
        with netns.route(ns) as ipr:
            for item in plan.interfaces:
                _build_interface(ipr, item)
    except (NetlinkError, netns.CommandFailed) as exc:
        clear(plan, ns)
        raise ApplyError(f"applying {plan.profile} failed and was rolled back: {exc}") from exc
    except readers.ReaderFailed:
        clear(plan, ns)
        raise
    remaining = differences(plan, ns)
    if remaining:
        raise ApplyError("the kernel does not hold the plan after applying:\n  " + "\n  ".join(remaining))
    return ApplyResult(changed=True)


def clear(plan: Plan, ns: str | None) -> None:
    """Remove what `plan` installs: root qdiscs on its devices and its nft table."""
    clear_devices(ns, [item.device for item in plan.interfaces], plan.nft.table, plan.nft.family)


def clear_devices(ns: str | None, devices: list[str], table: str, family: str = "inet") -> None:
    """Root qdiscs off `devices` (back to the kernel default), the nft table gone, and the
    reader with its iptables chain, if the profile read."""
    with netns.route(ns) as ipr:
        for device in devices:
            found = ipr.link_lookup(ifname=device)
            if found:
                delete_root(ipr, found[0])
    netns.run(ns, ["nft", "delete", "table", family, table], check=False)
    readers.retire(ns, table)
