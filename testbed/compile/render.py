"""Plan -> the equivalent shell commands (tc, nft, sysctl), for people to read and paste.

Run inside the censor node, the output builds the same kernel state as `testbed apply`.
"""

from __future__ import annotations

import json
import shlex

from testbed.compile.plan import (
    InterfacePlan,
    Leaf,
    NetemLeaf,
    NetemParams,
    NftPlan,
    NftSet,
    PfifoLeaf,
    Plan,
    TbfLeaf,
)
from testbed.compile.reading import reader_spec
from testbed.profile.units import format_duration, format_percent, format_rate

CONNTRACK_ACCT = ("net.netfilter.nf_conntrack_acct", "1")


def sysctls(plan: Plan) -> list[tuple[str, str]]:
    return [CONNTRACK_ACCT] if "conntrack_acct" in plan.features else []


def netem_args(p: NetemParams) -> list[str]:
    """tc's netem argument list for `p` (the same words `tc qdisc show` prints back)."""
    args = ["limit", str(p.limit)]
    if p.delay_ns or p.jitter_ns:
        args += ["delay", format_duration(p.delay_ns)]
        if p.jitter_ns:
            args.append(format_duration(p.jitter_ns))
            if p.delay_correlation_pct:
                args.append(format_percent(p.delay_correlation_pct))
    if p.distribution:
        args += ["distribution", p.distribution]
    if p.loss_pct:
        args += ["loss", "random", format_percent(p.loss_pct)]
        if p.loss_correlation_pct:
            args.append(format_percent(p.loss_correlation_pct))
    if p.loss_state:
        args += ["loss", "state", *(format_percent(v) for v in p.loss_state)]
    if p.loss_gemodel:
        args += ["loss", "gemodel", *(format_percent(v) for v in p.loss_gemodel)]
    for word, pct, corr in (
        ("duplicate", p.duplicate_pct, p.duplicate_correlation_pct),
        ("corrupt", p.corrupt_pct, p.corrupt_correlation_pct),
        ("reorder", p.reorder_pct, p.reorder_correlation_pct),
    ):
        if pct:
            args += [word, format_percent(pct)] + ([format_percent(corr)] if corr else [])
    if p.reorder_pct and p.gap:
        args += ["gap", str(p.gap)]
    if p.rate_bps:
        args += ["rate", format_rate(p.rate_bps)]
        if p.packet_overhead or p.cell_size or p.cell_overhead:
            args.append(str(p.packet_overhead))
        if p.cell_size or p.cell_overhead:
            args.append(str(p.cell_size))
        if p.cell_overhead:
            args.append(str(p.cell_overhead))
    if p.slot:
        min_ns, max_ns, packets, size = p.slot
        args += ["slot", format_duration(min_ns), format_duration(max_ns)]
        if packets:
            args += ["packets", str(packets)]
        if size:
            args += ["bytes", str(size)]
    if p.ecn:
        args.append("ecn")
    return args


def leaf_args(leaf: Leaf) -> list[str]:
    match leaf:
        case NetemLeaf():
            return ["netem", *netem_args(leaf.netem)]
        case TbfLeaf():
            return ["tbf", "rate", format_rate(leaf.rate_bps), "burst", f"{leaf.burst_bytes}b",
                    "latency", format_duration(leaf.latency_ns)]
        case PfifoLeaf():
            return ["pfifo", "limit", str(leaf.limit)]


def tc_commands(item: InterfacePlan) -> list[list[str]]:
    dev = item.device
    cmds = [["tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb",
             "default", f"{item.default_minor:x}"]]
    for cls in item.classes:
        cmds.append(["tc", "class", "replace", "dev", dev, "parent", cls.parent, "classid",
                     cls.classid, "htb", "rate", format_rate(cls.rate_bps), "ceil",
                     format_rate(cls.ceil_bps), "burst", f"{cls.burst_bytes}b",
                     "cburst", f"{cls.burst_bytes}b"])
    for leaf in item.leaves:
        cmds.append(["tc", "qdisc", "replace", "dev", dev, "parent", leaf.parent, "handle",
                     leaf.handle, *leaf_args(leaf)])
    return cmds


def _set_text(item: NftSet) -> str:
    lines = [f"\tset {item.name} {{", f"\t\ttype {item.type}"]
    flags = list(item.flags)
    if flags:
        lines.append(f"\t\tflags {','.join(flags)}")
    if item.timeout_s:
        lines.append(f"\t\ttimeout {item.timeout_s}s")
    if "interval" in flags:
        lines.append("\t\tauto-merge")
    if item.elements:
        lines.append("\t\telements = {")
        lines += [f"\t\t\t{e}," for e in item.elements]
        lines.append("\t\t}")
    lines.append("\t}")
    return "\n".join(lines)


def nft_ruleset(nft: NftPlan, digest: str = "") -> str:
    """One atomic nft script: create-or-flush the table, then define it whole."""
    head = f"{nft.family} {nft.table}"
    out = [f"table {head}", f"delete table {head}", f"table {head} {{"]
    if digest:
        out.append(f'\tcomment "testbed plan {digest}"')
    out += [f"\tcounter {name} {{ }}" for name in nft.counters]
    out += [_set_text(s) for s in nft.sets]
    for chain in nft.chains:
        out.append(f"\tchain {chain.name} {{")
        if chain.hook:
            out.append(f"\t\ttype filter hook {chain.hook} priority {chain.priority}; policy accept;")
        for rule in chain.rules:
            comment = f' comment "{rule.comment}"' if rule.comment else ""
            out.append(f"\t\t{rule.text}{comment}")
        out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


def shell_script(plan: Plan, netns: str | None = None, where: str | None = None) -> str:
    """The whole Plan as commands; with `netns`, each runs via `ip netns exec NETNS`. `where`
    says where to run them when that is neither a namespace nor a topology's censor."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    where = where or (f"namespace {netns}" if netns else "the censor node (testbed exec censor -- sh)")
    lines = [f"# profile {plan.profile}: run in {where}"]
    for key, value in sysctls(plan):
        lines.append(shlex.join([*prefix, "sysctl", "-qw", f"{key}={value}"]))
    for item in plan.interfaces:
        lines.append(f"# {item.direction} on {item.device}")
        lines += [shlex.join([*prefix, *cmd]) for cmd in tc_commands(item)]
    lines.append("# classification (nftables, loaded atomically)")
    lines.append(shlex.join([*prefix, "nft", "-f", "-"]) + " <<'EOF'")
    lines.append(nft_ruleset(plan.nft, plan.digest) + "EOF")
    if plan.reader is not None:
        lines += reader_commands(plan, prefix)
    return "\n".join(lines) + "\n"


def reader_commands(plan: Plan, prefix: list[str]) -> list[str]:
    """The reader and the rules that feed it: nft's form, and iptables' for kernels without
    nft `queue` (CONFIG_NFT_QUEUE), as `testbed apply` chooses by probing."""
    reader = plan.reader
    table = f"{plan.nft.family} {plan.nft.table}"
    chain = reader.queue_chain
    lines = ["# the reader: each flow's first client data packets go to NFQUEUE "
             f"{reader.queue}, read in userspace, until it marks the flow decided",
             shlex.join([*prefix, "python3", "-m", "testbed.classify.reader", "spec.json", "."])
             + "  # spec.json: " + json.dumps(reader_spec(reader), separators=(",", ":")),
             "# where nft has `queue`:",
             shlex.join([*prefix, "nft", "add", "chain", *table.split(), chain.name,
                         f"{{ type filter hook {chain.hook} priority {chain.priority}; }}"])]
    lines += [shlex.join([*prefix, "nft", "add", "rule", *table.split(), chain.name, *rule.text.split()])
              for rule in chain.rules]
    lines.append("# or, on a kernel without it (CONFIG_NFT_QUEUE unset), the xt NFQUEUE target:")
    for program in ("iptables", "ip6tables"):
        lines.append("# " + shlex.join([*prefix, program, "-t", "mangle", "-N", reader.iptables_chain]))
        lines += ["# " + shlex.join([*prefix, program, *rule]) for rule in reader.iptables]
        lines.append("# " + shlex.join([*prefix, program, "-t", "mangle", "-I", "FORWARD", "-j",
                                        reader.iptables_chain]))
    return lines


def clear_commands(plan: Plan) -> list[list[str]]:
    cmds = [["tc", "qdisc", "del", "dev", i.device, "root"] for i in plan.interfaces]
    cmds.append(["nft", "delete", "table", plan.nft.family, plan.nft.table])
    return cmds
