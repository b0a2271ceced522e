"""Read tc and nft state back from the kernel and compare it with a Plan.

Readback is how `apply` proves its work and how a re-apply of the same Plan is a no-op.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from testbed.compile.plan import InterfacePlan, Leaf, NetemLeaf, NetemParams, PfifoLeaf, Plan, TbfLeaf
from testbed.errors import EnvironmentFailure
from testbed.kernel import netem, netns, readers
from testbed.kernel.tc import TC_H_ROOT, format_handle

INT32_MAX = 2**31 - 1  # the kernel's "no limit" for netem slot packets and bytes


class ApplyError(EnvironmentFailure):
    """The kernel did not end up holding the Plan (or refused part of it)."""


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
    parent = format_handle(msg["parent"])
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
    index = device_index(ipr, device)
    root = None
    leaves: dict[str, LeafState] = {}
    for msg in ipr.get_qdiscs(index=index):
        kind = msg.get_attr("TCA_KIND")
        if msg["parent"] == TC_H_ROOT:
            opts = msg.get_attr("TCA_OPTIONS")
            init = opts.get_attr("TCA_HTB_INIT") if (kind == "htb" and opts is not None) else None
            root = (kind, format_handle(msg["handle"]), init["defcls"] if init else None)
        elif kind not in ("ingress", "clsact"):
            leaves[format_handle(msg["handle"])] = _leaf_state(msg)
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
        parent = "1:" if msg["parent"] == TC_H_ROOT else format_handle(msg["parent"])
        classes[format_handle(msg["handle"])] = (parent, rate, ceil)
    return {"root": root, "classes": classes, "leaves": leaves}


def device_index(ipr, device: str) -> int:
    found = ipr.link_lookup(ifname=device)
    if not found:
        names = sorted(link.get_attr("IFLA_IFNAME") for link in ipr.get_links())
        raise ApplyError(f"no interface {device!r} in this namespace (it has: {', '.join(names)})")
    return found[0]


def _expected_leaf(leaf: Leaf) -> LeafState:
    match leaf:
        case NetemLeaf():
            return LeafState("netem", leaf.parent, leaf.netem.limit, netem.as_kernel_keeps(leaf.netem))
        case TbfLeaf():  # the kernel keeps bytes per second
            return LeafState("tbf", leaf.parent, tbf_rate_bps=leaf.rate_bps // 8 * 8)
        case PfifoLeaf():
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
        for chain in readers.installed_nft(plan).chains:
            if counts.get(chain.name) != len(chain.rules):
                diffs.append(f"nft chain {chain.name}: {counts.get(chain.name)} rules, "
                             f"expected {len(chain.rules)}")
    return diffs + readers.differences(plan, ns)
