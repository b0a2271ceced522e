"""Plan -> live kernel state, and back. The only code that changes tc/nft state.

apply(): probe features and dry-run the nft ruleset (nothing changes if either fails),
skip if the kernel already holds this Plan, build the htb trees through netlink
(pyroute2), load the nft ruleset atomically, then read everything back and compare.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field

from pyroute2.netlink.exceptions import NetlinkError

from testbed.compile.plan import InterfacePlan, Leaf, NetemParams, Plan
from testbed.compile.render import nft_ruleset, sysctls
from testbed.kernel import netem, netns, probe
from testbed.profile.errors import KernelFeatureMissing

ENOENT, EINVAL = 2, 22
INT32_MAX = 2**31 - 1


class ApplyError(RuntimeError):
    pass


@dataclass
class ApplyResult:
    changed: bool
    differences: list[str] = field(default_factory=list)


def _handle(text: str) -> int:
    major, _, minor = text.partition(":")
    return (int(major or "0", 16) << 16) | int(minor or "0", 16)


def _fmt(handle: int) -> str:
    return f"{handle >> 16:x}:{handle & 0xFFFF:x}"


# --- reading state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LeafState:
    kind: str
    parent: str
    limit: int | None = None
    netem: NetemParams | None = None
    tbf_rate_bps: int | None = None


def _leaf_state(msg) -> LeafState:
    kind = msg.get_attr("TCA_KIND")
    opts = msg.get_attr("TCA_OPTIONS")
    parent = _fmt(msg["parent"])
    if kind == "netem" and opts is not None:
        params = netem.decode(opts)
        if params.slot:
            min_ns, max_ns, packets, size = params.slot
            # the kernel stores "no limit" as INT_MAX; tc and the Plan say 0
            params = dataclasses.replace(params, slot=(min_ns, max_ns, 0 if packets >= INT32_MAX else packets,
                                                       0 if size >= INT32_MAX else size))
        return LeafState(kind, parent, params.limit, params)
    if kind == "tbf" and opts is not None:
        parms = opts.get_attr("TCA_TBF_PARMS")
        return LeafState(kind, parent, tbf_rate_bps=parms["rate"] * 8 if parms else None)
    if kind in ("pfifo", "bfifo") and opts is not None:
        return LeafState(kind, parent, limit=opts["limit"])
    return LeafState(kind or "?", parent)


def read_interface(ipr, device: str) -> dict[str, object]:
    """The tc state on `device`: root kind and default, classes and leaves by handle."""
    index = _index(ipr, device)
    root = None
    leaves: dict[str, LeafState] = {}
    for msg in ipr.get_qdiscs(index=index):
        kind = msg.get_attr("TCA_KIND")
        if msg["parent"] == 0xFFFFFFFF:
            opts = msg.get_attr("TCA_OPTIONS")
            init = opts.get_attr("TCA_HTB_INIT") if (kind == "htb" and opts is not None) else None
            root = (kind, _fmt(msg["handle"]), init["defcls"] if init else None)
        elif kind not in ("ingress", "clsact"):
            leaves[_fmt(msg["handle"])] = _leaf_state(msg)
    classes: dict[str, tuple[str, int, int]] = {}
    for msg in ipr.get_classes(index=index):
        if msg.get_attr("TCA_KIND") != "htb":
            continue
        opts = msg.get_attr("TCA_OPTIONS")
        parms = opts.get_attr("TCA_HTB_PARMS") if opts is not None else None
        rate64 = opts.get_attr("TCA_HTB_RATE64") if opts is not None else None
        ceil64 = opts.get_attr("TCA_HTB_CEIL64") if opts is not None else None
        rate = rate64 or (parms["rate"] if parms else 0)
        ceil = ceil64 or (parms["ceil"] if parms else 0)
        parent = "1:" if msg["parent"] == 0xFFFFFFFF else _fmt(msg["parent"])
        classes[_fmt(msg["handle"])] = (parent, rate, ceil)
    return {"root": root, "classes": classes, "leaves": leaves}


def _index(ipr, device: str) -> int:
    found = ipr.link_lookup(ifname=device)
    if not found:
        raise ApplyError(f"no interface {device!r} in this namespace")
    return found[0]


def _expected_leaf(leaf: Leaf) -> LeafState:
    if leaf.kind == "netem":
        assert leaf.netem is not None
        return LeafState("netem", leaf.parent, leaf.limit, netem.as_kernel_keeps(leaf.netem))
    if leaf.kind == "tbf":
        return LeafState("tbf", leaf.parent, tbf_rate_bps=leaf.tbf_rate_bps // 8 * 8)
    return LeafState("pfifo", leaf.parent, limit=leaf.limit)


def interface_differences(item: InterfacePlan, state: dict[str, object]) -> list[str]:
    dev = item.device
    diffs: list[str] = []
    root = state["root"]
    if root != ("htb", "1:0", item.default_minor):
        diffs.append(f"{dev}: root qdisc is {root}, expected htb 1: default {item.default_minor:x}")
        return diffs
    classes = state["classes"]
    assert isinstance(classes, dict)
    for cls in item.classes:
        want = (cls.parent if cls.parent != "1:" else "1:", cls.rate_bps // 8, cls.ceil_bps // 8)
        have = classes.get(cls.classid)
        if have is None:
            diffs.append(f"{dev}: class {cls.classid} missing")
        elif have != want:
            diffs.append(f"{dev}: class {cls.classid} is {have}, expected {want}")
    extra = set(classes) - {c.classid for c in item.classes}
    diffs += [f"{dev}: unexpected class {c}" for c in sorted(extra)]
    leaves = state["leaves"]
    assert isinstance(leaves, dict)
    for leaf in item.leaves:
        have = leaves.get(leaf.handle + "0")
        want = _expected_leaf(leaf)
        if have != want:
            diffs.append(f"{dev}: leaf {leaf.handle} is {have}, expected {want}")
    return diffs


def nft_table_comment(ns: str | None, family: str, table: str) -> str | None:
    """The table's comment (nft 1.0.6 leaves it out of its JSON, so read the text form)."""
    result = netns.run(ns, ["nft", "-t", "list", "table", family, table], check=False)  # -t: no set elements
    if result.returncode != 0:
        return None
    found = re.search(r'^\tcomment "([^"]*)"$', result.stdout, flags=re.MULTILINE)
    return found[1] if found else ""


def nft_rule_counts(ns: str | None, family: str, table: str) -> dict[str, int]:
    result = netns.run(ns, ["nft", "-t", "-j", "list", "table", family, table], check=False)
    counts: dict[str, int] = {}
    if result.returncode != 0:
        return counts
    for item in json.loads(result.stdout).get("nftables", []):
        if "chain" in item:
            counts.setdefault(item["chain"]["name"], 0)
        if "rule" in item:
            counts[item["rule"]["chain"]] = counts.get(item["rule"]["chain"], 0) + 1
    return counts


def differences(plan: Plan, ns: str | None) -> list[str]:
    """What in the kernel differs from `plan` (empty: the kernel holds exactly this Plan)."""
    diffs: list[str] = []
    with netns.route(ns) as ipr:
        for item in plan.interfaces:
            diffs += interface_differences(item, read_interface(ipr, item.device))
    comment = nft_table_comment(ns, plan.nft.family, plan.nft.table)
    if comment is None:
        diffs.append(f"nft table {plan.nft.family} {plan.nft.table} missing")
    else:
        if comment != f"testbed plan {plan.digest}":
            diffs.append(f"nft table holds another plan ({comment!r})")
        counts = nft_rule_counts(ns, plan.nft.family, plan.nft.table)
        for chain in plan.nft.chains:
            if counts.get(chain.name) != len(chain.rules):
                diffs.append(f"nft chain {chain.name}: {counts.get(chain.name)} rules, "
                             f"expected {len(chain.rules)}")
    return diffs


# --- changing state --------------------------------------------------------------------------


def _build_interface(ipr, item: InterfacePlan) -> None:
    index = _index(ipr, item.device)
    try:
        ipr.tc("del", index=index, handle=0x10000, root=True)
    except NetlinkError as exc:
        if exc.code not in (ENOENT, EINVAL):
            raise
    ipr.tc("add", "htb", index, 0x10000, root=True, default=item.default_minor)
    for cls in item.classes:
        ipr.tc("add-class", "htb", index, _handle(cls.classid), parent=_handle(cls.parent),
               rate=cls.rate_bps // 8, ceil=cls.ceil_bps // 8, burst=cls.burst_bytes,
               cburst=cls.burst_bytes)
    for leaf in item.leaves:
        common = {"parent": _handle(leaf.parent)}
        if leaf.kind == "netem":
            ipr.tc("add", "netem", index, _handle(leaf.handle), netem_params=leaf.netem, **common)
        elif leaf.kind == "tbf":
            ipr.tc("add", "tbf", index, _handle(leaf.handle), rate=leaf.tbf_rate_bps // 8,
                   burst=leaf.tbf_burst_bytes, latency=leaf.tbf_latency_ns // 1000, **common)
        else:
            ipr.tc("add", "pfifo", index, _handle(leaf.handle), limit=leaf.limit, **common)


def check_plan(plan: Plan, ns: str | None, dry_run: bool = True) -> None:
    """Everything that can fail without changing anything: features, devices, nft dry run."""
    probe.require(plan.features)
    with netns.route(ns) as ipr:
        for item in plan.interfaces:
            _index(ipr, item.device)
    if not dry_run:
        return
    result = netns.run(ns, ["nft", "-c", "-f", "-"], stdin=nft_ruleset(plan.nft, plan.digest),
                       check=False)
    if result.returncode != 0:
        raise KernelFeatureMissing(f"the kernel refused the nft ruleset: {result.stderr.strip()}")


def apply(plan: Plan, ns: str | None) -> ApplyResult:
    netem.install()
    # no nft dry run here: the real load comes first and is atomic, so a refused ruleset
    # changes nothing either
    check_plan(plan, ns, dry_run=False)
    if not differences(plan, ns):
        return ApplyResult(changed=False)
    try:
        result = netns.run(ns, ["nft", "-f", "-"], stdin=nft_ruleset(plan.nft, plan.digest), check=False)
        if result.returncode != 0:
            raise KernelFeatureMissing(f"the kernel refused the nft ruleset: {result.stderr.strip()}")
        for key, value in sysctls(plan):  # after nft: the ruleset's ct match loads conntrack
            netns.run(ns, ["sysctl", "-qw", f"{key}={value}"])
        with netns.route(ns) as ipr:
            for item in plan.interfaces:
                _build_interface(ipr, item)
    except (NetlinkError, netns.CommandFailed) as exc:
        clear(plan, ns)
        raise ApplyError(f"applying {plan.profile} failed and was rolled back: {exc}") from exc
    remaining = differences(plan, ns)
    if remaining:
        raise ApplyError("the kernel does not hold the plan after applying:\n  " + "\n  ".join(remaining))
    return ApplyResult(changed=True)


def clear(plan: Plan, ns: str | None) -> None:
    """Remove what `plan` installs: root qdiscs on its devices and its nft table."""
    clear_devices(ns, [item.device for item in plan.interfaces], plan.nft.table, plan.nft.family)


def clear_devices(ns: str | None, devices: list[str], table: str, family: str = "inet") -> None:
    """Root qdiscs off `devices` (back to the kernel default) and the nft table gone."""
    with netns.route(ns) as ipr:
        for device in devices:
            found = ipr.link_lookup(ifname=device)
            if found:
                try:
                    ipr.tc("del", index=found[0], handle=0x10000, root=True)
                except NetlinkError as exc:
                    if exc.code not in (ENOENT, EINVAL):
                        raise
    netns.run(ns, ["nft", "delete", "table", family, table], check=False)
