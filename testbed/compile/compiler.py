"""Profile -> Plan. Pure and deterministic: no root, no kernel, same input same output.

Layout of what it builds, per censor egress interface:

    htb 1: (default 2)
      class 1:1   the base link (rate = link.rate, or line rate)
        class 1:2    unmatched traffic (the profile's `default`)   leaf 2:
        class 1:10   first traffic class                          leaf 10:
        class 1:11   second traffic class ...                     leaf 11:
      class 1:3   traffic that does not cross the border          leaf 3:

and one nftables table whose forward chain sends each packet that crosses the border
(inside to outside, or back) to the chain of its direction, where classes are tried in
order: the first match drops, rejects, polices or sets `meta priority` to its htb class
and accepts. Traffic between two hosts of one side (a callee and its TURN server, both
abroad) never passes a real censor: it goes untouched to class 1:3, off the base link.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.compile.match import (
    DNF,
    Conj,
    MatchTooLarge,
    _constraints,
    compile_match,
    flag_bits,
    ip_version,
    render_conj,
)
from testbed.compile.netem_params import netem_params
from testbed.compile.plan import (
    Direction,
    HtbClass,
    InterfacePlan,
    Leaf,
    NetemLeaf,
    NftChain,
    NftPlan,
    NftRule,
    NftSet,
    PfifoLeaf,
    Plan,
    ReadTest,
    TbfLeaf,
    classid,
    counter_name,
    nft_names,
)
from testbed.compile.reading import class_reads, copy_rules, read_tests, reader_plan
from testbed.errors import InputError, Problem
from testbed.profile.actions import Action, Netem
from testbed.profile.checks import flags_of
from testbed.profile.loader import LoadedProfile
from testbed.profile.model import Profile, TrafficClass
from testbed.profile.yamlpos import dotted, line_of

LINE_RATE_BPS = 10_000_000_000  # what an unshaped class may use: faster than any veth test
DEFAULT_MINOR = 2  # htb class 1:2 holds unmatched traffic
ONE_SIDE_MINOR = 3  # htb class 1:3: between hosts of one side, not across the border
FIRST_CLASS_MINOR = 0x10  # the profile's classes are 1:10, 1:11, ...
MIN_CLASS_RATE_BPS = 8_000  # htb's guaranteed share has a floor; below 1 kB/s it rounds to 0
TBF_LATENCY_NS = 50_000_000  # tbf needs a latency (or limit); 50 ms, as tc-tbf(8)'s examples
POLICE_IDLE_NS = 60_000_000_000  # per-flow policer state forgotten after a minute idle
DIRECTIONS: tuple[Direction, Direction] = ("uplink", "downlink")


@dataclass(frozen=True)
class Target:
    """Where a Plan goes: the censor's egress devices per direction and the nft table name.
    The defaults are the censor's interfaces in the default topology (one host a side:
    testbed/topology/model.py names them out0 and in0)."""

    uplink_devices: tuple[str, ...] = ("out0",)
    downlink_devices: tuple[str, ...] = ("in0",)
    table: str = "testbed"
    # Gateway mode (testbed/gateway): the htb trees sit on ifb devices, so the border is
    # named by the real interfaces instead, and each crossing packet gets this skb mark bit,
    # on which tc redirects it into the ifb of its direction.
    border_inside: tuple[str, ...] = ()
    border_outside: tuple[str, ...] = ()
    mark: int | None = None

    def devices(self, direction: Direction) -> tuple[str, ...]:
        return self.uplink_devices if direction == "uplink" else self.downlink_devices

    def border(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The interfaces facing the inside and the outside, as nft's forward chain names them."""
        return self.border_inside or self.downlink_devices, self.border_outside or self.uplink_devices


def default_burst_bytes(rate_bps: int) -> int:
    """One millisecond at the rate plus a full frame, as tc's default (rate/HZ + MTU)."""
    return rate_bps // 8 // 1000 + 1600


def compile_profile(loaded: LoadedProfile, target: Target | None = None) -> Plan:
    target = target or Target()
    profile = loaded.profile
    interfaces = tuple(
        _interface_plan(profile, direction, device)
        for direction in DIRECTIONS
        for device in target.devices(direction)
    )
    tests = read_tests(loaded)
    reader = reader_plan(loaded, tests, *target.border(), target.table)
    return Plan(profile.name, interfaces, _nft_plan(loaded, target, tests), _features(profile), reader)


def _compile_matches(loaded: LoadedProfile, flags: dict[str, str], tests: list[ReadTest]) -> list[DNF]:
    """Each class's match in DNF; a match too large for nft rules is an InputError at its line."""
    out = []
    for index, cls in enumerate(loaded.profile.classes):
        try:
            out.append(compile_match(cls.match, loaded.address_sets, flags, class_reads(cls, tests)))
        except MatchTooLarge as exc:
            at = ("classes", index, "match")
            raise InputError([Problem(str(loaded.source), line_of(loaded.lines, at), dotted(at), str(exc))]) \
                from None
    return out


# --- tc: treatment ---------------------------------------------------------------------------


def _classes_with_minors(profile: Profile) -> list[tuple[int, str, TrafficClass | None]]:
    rows: list[tuple[int, str, TrafficClass | None]] = [(DEFAULT_MINOR, "default", None)]
    rows += [(FIRST_CLASS_MINOR + i, c.name, c) for i, c in enumerate(profile.classes)]
    return rows


def _action(profile: Profile, cls: TrafficClass | None, direction: Direction) -> Action:
    holder = profile.default if cls is None else cls
    return holder.for_direction(direction)


def _interface_plan(profile: Profile, direction: Direction, device: str) -> InterfacePlan:
    link_rate = (profile.link.rate if profile.link else None) or LINE_RATE_BPS
    base_delay = (profile.link.delay if profile.link else None) or 0
    rows = _classes_with_minors(profile)
    share = max(MIN_CLASS_RATE_BPS, link_rate // len(rows) // 1000 * 1000)  # guarantees add up to the link
    classes = [HtbClass(classid(1), "1:", link_rate, link_rate, default_burst_bytes(link_rate),
                        "base link")]
    leaves: list[Leaf] = []
    for minor, label, cls in rows:
        action = _action(profile, cls, direction)
        rate, ceil = share, link_rate
        if action.shape and action.shape.method == "htb":
            rate = min(action.shape.rate, link_rate)
            ceil = min(action.shape.ceil or action.shape.rate, link_rate)
        burst = action.shape.burst if action.shape and action.shape.burst else default_burst_bytes(ceil)
        classes.append(HtbClass(classid(minor), classid(1), rate, ceil, burst, label))
        leaves.append(_leaf(minor, action, base_delay))
    classes.append(HtbClass(classid(ONE_SIDE_MINOR), "1:", LINE_RATE_BPS, LINE_RATE_BPS,
                            default_burst_bytes(LINE_RATE_BPS), "not across the border"))
    leaves.append(PfifoLeaf(classid(ONE_SIDE_MINOR), f"{ONE_SIDE_MINOR:x}:"))
    return InterfacePlan(device, direction, DEFAULT_MINOR, tuple(classes), tuple(leaves))


def _leaf(minor: int, action: Action, base_delay_ns: int) -> Leaf:
    parent, handle = classid(minor), f"{minor:x}:"
    if action.shape and action.shape.method == "tbf":
        shape = action.shape
        return TbfLeaf(parent, handle, shape.rate, shape.burst or default_burst_bytes(shape.rate),
                       shape.latency or TBF_LATENCY_NS)
    if action.netem or base_delay_ns:
        return NetemLeaf(parent, handle, netem_params(action.netem or Netem(), base_delay_ns))
    return PfifoLeaf(parent, handle)


# --- nft: classification and stateful policy -------------------------------------------------


def _families(conj: Conj) -> list[str]:
    """Address families a conjunction can match (its text may already pin one)."""
    allowed, _ = _constraints([lit for lit in conj if lit.enforces]).get("nfproto", (None, None))
    return sorted(allowed) if allowed is not None else ["ipv4", "ipv6"]


def _addr(family: str) -> tuple[str, str]:
    return ("ip", "ipv4_addr") if family == "ipv4" else ("ip6", "ipv6_addr")


def _residual_key(scope: str, direction: Direction, family: str) -> tuple[str, str]:
    """(nft key expression, set type) oriented as inside-host . outside-host . ..."""
    ip, addr_type = _addr(family)
    inside, outside = ("saddr", "daddr") if direction == "uplink" else ("daddr", "saddr")
    outside_port = "th dport" if direction == "uplink" else "th sport"
    if scope == "host":
        return f"{ip} {outside}", addr_type
    if scope == "pair":
        return f"{ip} {inside} . {ip} {outside}", f"{addr_type} . {addr_type}"
    return (f"{ip} {inside} . {ip} {outside} . meta l4proto . {outside_port}",
            f"{addr_type} . {addr_type} . inet_proto . inet_service")


def _bytes_per_second(rate_bps: int) -> int:
    return max(1, round(rate_bps / 8))


def _counter_literal(action: Action) -> str | None:
    if action.after is None:
        return None
    ct_dir, unit, threshold = action.after.counter
    middle = f"{ct_dir} " if ct_dir else ""
    return f"ct {middle}{unit} > {threshold}"


def _tcp_possible(conj: Conj) -> bool:
    allowed, excluded = _constraints(list(conj)).get("l4proto", (None, frozenset()))
    return "tcp" not in excluded and (allowed is None or "tcp" in allowed)


def _rule(matches: list[str | None], statement: str | None, verdict: str, comment: str) -> NftRule:
    return NftRule(" ".join(p for p in [*matches, statement, verdict] if p), comment)


def _terminal(conj: Conj, matches: list[str | None], statement: str | None, blocking: str,
              comment: str) -> list[NftRule]:
    """drop, or reject as a TCP reset for TCP and ICMP port-unreachable for the rest."""
    if blocking == "drop":
        return [_rule(matches, statement, "drop", comment)]
    allowed, excluded = _constraints(list(conj)).get("l4proto", (None, frozenset()))
    only_tcp = allowed is not None and allowed - excluded == {"tcp"}
    rules = []
    if _tcp_possible(conj):
        tcp = None if only_tcp else "meta l4proto tcp"
        rules.append(_rule([*matches, tcp], statement, "reject with tcp reset", comment))
    if not only_tcp:
        rules.append(_rule(matches, statement, "reject with icmpx port-unreachable", comment))
    return rules


def _set_suffix(name: str, direction: Direction, family: str) -> str:
    return f"{name.replace('-', '_')}_{'up' if direction == 'uplink' else 'down'}_{family[-2:]}"


def _counted(name: str, direction: Direction, dropped: bool) -> str:
    """The counter statements of a rule: what the class took, and what it dropped."""
    took = f'counter name "{counter_name(name, direction)}"'
    return f'{took} counter name "{counter_name(name, direction, dropped=True)}"' if dropped else took


def _class_rules(name: str, minor: int, action: Action, dnf: DNF, direction: Direction,
                 sets: list[NftSet], flags: dict[str, str]) -> list[NftRule]:
    rules: list[NftRule] = []
    gate = _counter_literal(action)
    # a flag marks the connection on every rule of the class, whatever its verdict
    mark = f"ct mark set ct mark | {flags[action.flag]}" if action.flag else None

    def marked(statement: str | None, dropped: bool = False) -> str:
        return " ".join(p for p in (mark, statement, _counted(name, direction, dropped)) if p)

    blocking = "drop" if action.drop else "reject" if action.reject else None
    for conj in dnf:
        families = _families(conj)
        family_guard = {f: (f"meta nfproto {f}" if len(families) > 1 else None) for f in families}
        if action.residual is not None and blocking:
            res = action.residual
            for family in families:
                key, _ = _residual_key(res.scope, direction, family)
                l4 = "meta l4proto { tcp, udp }" if res.scope == "flow" else None
                update = f"update @res_{_set_suffix(name, direction, family)} {{ {key} }}"
                rules += _terminal(conj, [render_conj(conj), family_guard[family], gate, l4],
                                   marked(update, dropped=True), blocking, name)
            continue
        if blocking:
            rules += _terminal(conj, [render_conj(conj), gate], marked(None, dropped=True), blocking, name)
            continue
        if action.police is not None:
            pol = action.police
            limit = (f"limit rate over {_bytes_per_second(pol.rate)} bytes/second "
                     f"burst {pol.burst} bytes")
            if pol.per == "aggregate":
                rules.append(_rule([render_conj(conj), gate], marked(limit, dropped=True), "drop", name))
            for family in families if pol.per == "flow" else []:
                ip, addr_type = _addr(family)
                set_name = f"pol_{_set_suffix(name, direction, family)}"
                key = f"{ip} saddr . {ip} daddr . meta l4proto . th sport . th dport"
                rules.append(_rule(
                    [render_conj(conj), family_guard[family], gate, "meta l4proto { tcp, udp }"],
                    marked(f"update @{set_name} {{ {key} {limit} }}", dropped=True), "drop", name))
                if not any(s.name == set_name for s in sets):
                    idle_s = (pol.idle_timeout or POLICE_IDLE_NS) // 1_000_000_000
                    sets.append(NftSet(set_name, f"{addr_type} . {addr_type} . inet_proto . "
                                       "inet_service . inet_service", ("dynamic", "timeout"),
                                       max(1, idle_s)))
        rules.append(_rule([render_conj(conj), gate], marked(f"meta priority set {classid(minor)}"),
                           "accept", name))
    return rules


def _nft_plan(loaded: LoadedProfile, target: Target, tests: list[ReadTest]) -> NftPlan:
    profile = loaded.profile
    sets: list[NftSet] = []
    for name in sorted(loaded.address_sets):
        prefixes = loaded.address_sets[name]
        for version, suffix, addr_type in ((4, "v4", "ipv4_addr"), (6, "v6", "ipv6_addr")):
            members = tuple(p for p in prefixes if ip_version(p) == version)
            if members:
                sets.append(NftSet(f"{name}_{suffix}", addr_type, ("interval",), None, members))
    residual_checks: dict[Direction, list[NftRule]] = {"uplink": [], "downlink": []}
    chains_rules: dict[Direction, list[NftRule]] = {"uplink": [], "downlink": []}
    flags = flag_bits(flags_of(profile))
    compiled = list(zip(profile.classes, _compile_matches(loaded, flags, tests), strict=True))
    for direction in DIRECTIONS:
        for index, (cls, dnf) in enumerate(compiled):
            action = cls.for_direction(direction)
            minor = FIRST_CLASS_MINOR + index
            if action.residual is not None:
                _residual_sets_and_checks(cls.name, action, direction, dnf, sets, residual_checks)
            chains_rules[direction].extend(
                _class_rules(cls.name, minor, action, dnf, direction, sets, flags))
        chains_rules[direction].extend(_default_rules(profile.default.for_direction(direction), direction))
    inside, outside = target.border()
    one_side = f"meta priority set {classid(ONE_SIDE_MINOR)}"
    marked = f"meta mark set meta mark | {target.mark:#010x} " if target.mark else ""
    forward = NftChain("forward", "forward", 0, (
        *(copy_rules(tests) if tests else ()),
        NftRule(f"iifname {nft_names(inside)} oifname {nft_names(outside)} {marked}jump uplink"),
        NftRule(f"iifname {nft_names(outside)} oifname {nft_names(inside)} {marked}jump downlink"),
        *(NftRule(f"iifname {nft_names(side)} oifname {nft_names(side)} {one_side}",
                  f"between hosts {where}: no border crossed")
          for side, where in ((outside, "abroad"), (inside, "inside")))))
    chains = [NftChain(d, "", 0, tuple(residual_checks[d] + chains_rules[d])) for d in DIRECTIONS]
    # in class order, as nft lists them back; a class's dropped counter only where it drops
    used = " ".join(rule.text for chain in chains for rule in chain.rules)
    names = [counter_name(holder, d, dropped) for holder in [*(c.name for c in profile.classes), "default"]
             for d in DIRECTIONS for dropped in (False, True)]
    counters = tuple(n for n in names if not n.endswith(".dropped") or f'"{n}"' in used)
    return NftPlan(target.table, "inet", tuple(sets), (forward, *chains), counters)


def _residual_sets_and_checks(name: str, action: Action, direction: Direction, dnf: DNF,
                              sets: list[NftSet], checks: dict[Direction, list[NftRule]]) -> None:
    res = action.residual
    assert res is not None
    families = sorted({f for conj in dnf for f in _families(conj)})
    for family in families:
        set_name = f"res_{_set_suffix(name, direction, family)}"
        _, set_type = _residual_key(res.scope, direction, family)
        sets.append(NftSet(set_name, set_type, ("timeout",), res.duration // 1_000_000_000))
        # the block holds both ways: check each direction with its own key orientation
        for check_direction in DIRECTIONS:
            key, _ = _residual_key(res.scope, check_direction, family)
            l4 = "meta l4proto { tcp, udp }" if res.scope == "flow" else None
            counted = _counted(name, check_direction, True)
            checks[check_direction].append(_rule([l4, f"{key} @{set_name}"], counted, "drop",
                                                 f"{name}: residual block"))


def _default_rules(action: Action, direction: Direction) -> list[NftRule]:
    took, dropped = _counted("default", direction, False), _counted("default", direction, True)
    if action.drop:
        return [NftRule(f"{dropped} drop", "default")]
    if action.reject:
        return _terminal((), [], dropped, "reject", "default")
    rules = []
    if action.police is not None:
        pol = action.police
        rules.append(NftRule(f"limit rate over {_bytes_per_second(pol.rate)} bytes/second "
                             f"burst {pol.burst} bytes {dropped} drop", "default"))
    rules.append(NftRule(f"meta priority set {classid(DEFAULT_MINOR)} {took}", "default"))
    return rules


def _features(profile: Profile) -> tuple[str, ...]:
    needed = {"sch_htb", "sch_pfifo", "nftables"}
    holders = [profile.default, *profile.classes]
    for holder in holders:
        for direction in DIRECTIONS:
            action = holder.for_direction(direction)
            if action.netem or (profile.link and profile.link.delay):
                needed.add("sch_netem")
            if action.shape and action.shape.method == "tbf":
                needed.add("sch_tbf")
            if action.after:
                needed.add("conntrack_acct")
    if profile.reading_classes():
        needed |= {"conntrack_acct", "nfqueue"}  # the reader's queue counts a flow's packets
    return tuple(sorted(needed))


