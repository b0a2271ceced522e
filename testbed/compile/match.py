"""Match trees -> nftables rule fragments in disjunctive normal form.

A Match is an AND of its fields, `any` is an OR, `not` a negation. nft rules are
conjunctions, so a Match becomes a list of conjunctions (one nft rule each). Every
literal knows its exact negation as a DNF, because `udp dport != 53` also requires the
packet to be UDP: not(udp dport 53) = (not UDP) or (UDP and dport != 53).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from testbed.compile.reading import DECIDED_BIT, test_key
from testbed.profile.matches import READ_FIELDS, FlowMatch, LengthRange, Match, PayloadMatch

MAX_RULES_PER_CLASS = 256


class MatchTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Fact:
    """A constraint on one packet property: its value is (holds) or is not in `values`."""

    key: str  # "l4proto" or "nfproto"
    values: frozenset[str]
    holds: bool = True


@dataclass(frozen=True)
class Literal:
    text: str
    negation: tuple[tuple[Literal, ...], ...] = field(compare=False, default=())
    facts: tuple[Fact, ...] = field(compare=False, default=())
    enforces: bool = field(compare=False, default=True)  # nft text itself requires `facts`
    guard: bool = field(compare=False, default=False)  # text says nothing beyond `facts`


Conj = tuple[Literal, ...]
DNF = list[Conj]

ALWAYS: DNF = [()]
NEVER: DNF = []


def l4proto(protocols: tuple[str, ...]) -> Literal:
    value = protocols[0] if len(protocols) == 1 else "{ " + ", ".join(protocols) + " }"
    values = frozenset(protocols)
    negative = Literal(f"meta l4proto != {value}", facts=(Fact("l4proto", values, False),), guard=True)
    positive_fact = (Fact("l4proto", values, True),)
    positive = Literal(f"meta l4proto {value}", ((negative,),), positive_fact, guard=True)
    return positive


def nfproto(family: str) -> Literal:
    other = "ipv6" if family == "ipv4" else "ipv4"
    negative = Literal(f"meta nfproto {other}", facts=(Fact("nfproto", frozenset({other})),), guard=True)
    return Literal(f"meta nfproto {family}", ((negative,),),
                   (Fact("nfproto", frozenset({family})),), guard=True)


def _plain(text: str, negated: str) -> Literal:
    return Literal(text, ((Literal(negated),),))


def _guarded(guard: Literal, text: str, negated: str, implies_guard: bool = True) -> Literal:
    """A field that exists only under `guard`: its negation is (not guard) or (guard and !=).

    `implies_guard`: nft's text already requires the guard (`udp dport` only matches UDP),
    so a separate `meta l4proto udp` next to it is redundant and is left out of rules.
    """
    inner_negative = Literal(negated, (), guard.facts, enforces=implies_guard)
    negation = tuple(guard.negation) + ((guard, inner_negative),)
    return Literal(text, negation, guard.facts, enforces=implies_guard)


def _constraints(literals) -> dict[str, tuple[frozenset[str] | None, frozenset[str]]]:
    """Per key: the allowed values (None: unconstrained) and the excluded ones."""
    out: dict[str, tuple[frozenset[str] | None, frozenset[str]]] = {}
    for lit in literals:
        for fact in lit.facts:
            allowed, excluded = out.get(fact.key, (None, frozenset()))
            if fact.holds:
                allowed = fact.values if allowed is None else allowed & fact.values
            else:
                excluded = excluded | fact.values
            out[fact.key] = (allowed, excluded)
    return out


def _contradictory(conj: list[Literal]) -> bool:
    for allowed, excluded in _constraints(conj).values():
        if allowed is not None and not (allowed - excluded):
            return True
    return False


def _implied(lit: Literal, others: list[Literal]) -> bool:
    """Is guard `lit` already enforced by the nft text of `others`?"""
    known = _constraints([o for o in others if o.enforces])
    for fact in lit.facts:
        allowed, excluded = known.get(fact.key, (None, frozenset()))
        if fact.holds and not (allowed is not None and (allowed - excluded) <= fact.values):
            return False
        if not fact.holds and not (
            fact.values <= excluded or (allowed is not None and not (allowed & fact.values))
        ):
            return False
    return True


def _simplify(conj: list[Literal]) -> Conj:
    kept = list(conj)
    for lit in list(kept):
        if lit.guard and _implied(lit, [o for o in kept if o is not lit]):
            kept.remove(lit)
    return tuple(kept)


def _set_text(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _ports(ranges: list[tuple[int, int]]) -> str:
    return _set_text([f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in sorted(set(ranges))])


def _range_text(rng: LengthRange, offset: int = 0) -> tuple[str, str]:
    low = None if rng.min is None else rng.min + offset
    high = None if rng.max is None else rng.max + offset
    if low is not None and high is not None:
        value = f"{low}" if low == high else f"{low}-{high}"
        return value, f"!= {value}"
    if low is not None:
        return f">= {low}", f"< {low}"
    return f"<= {high}", f"> {high}"


def _or(*dnfs: DNF) -> DNF:
    out: DNF = []
    for dnf in dnfs:
        out.extend(dnf)
    return out


def _and(*dnfs: DNF) -> DNF:
    out: DNF = []
    for combo in product(*dnfs):
        conj: list[Literal] = []
        for part in combo:
            for lit in part:
                if lit not in conj:  # literals compare by their nft text
                    conj.append(lit)
        if not _contradictory(conj) and (kept := _simplify(conj)) not in out:  # a rule once
            out.append(kept)
        if len(out) > MAX_RULES_PER_CLASS:
            raise MatchTooLarge(
                f"the match expands to more than {MAX_RULES_PER_CLASS} nft rules; "
                "use address sets or fewer 'any'/'not' combinations"
            )
    return out


def negate(dnf: DNF) -> DNF:
    """not (C1 or C2 ...) = not C1 and not C2 ...; not (a and b) = not a or not b."""
    if not dnf:
        return ALWAYS
    result: DNF = ALWAYS
    for conj in dnf:
        if not conj:
            return NEVER
        negated_conj: DNF = _or(*[list(lit.negation) for lit in conj])
        result = _and(result, negated_conj)
    return result


def _protocols(match: Match) -> tuple[str, ...] | None:
    if match.protocol in (None, "any"):
        needs_l4 = any(x is not None for x in (match.src_port, match.dst_port, match.payload))
        return ("tcp", "udp") if needs_l4 else None
    return (match.protocol,)


def ip_version(prefix: str) -> int:
    """4 or 6 for a prefix the loader has already validated (cheap: sets hold 10,000s)."""
    return 6 if ":" in prefix else 4


def _addresses(items: list[str], field: str, sets: dict[str, tuple[str, ...]], tuple_: str = "") -> DNF:
    """`tuple_`: "" for the packet's own header; "ct original " for its connection's first
    packet, which nft reads without checking the family: the rule says it."""
    v4: list[str] = []
    v6: list[str] = []
    set_refs: list[tuple[str, str]] = []  # (family, set name)
    for item in items:
        if item.startswith("@"):
            name = item[1:]
            families = {ip_version(p) for p in sets[name]}
            if 4 in families:
                set_refs.append(("ip", f"{name}_v4"))
            if 6 in families:
                set_refs.append(("ip6", f"{name}_v6"))
        elif ip_version(item) == 4:
            v4.append(item)
        else:
            v6.append(item)
    alternatives: DNF = []

    def add(family: str, value: str) -> None:
        guard = nfproto("ipv4" if family == "ip" else "ipv6")
        test = _guarded(guard, f"{tuple_}{family} {field} {value}", f"{tuple_}{family} {field} != {value}",
                        implies_guard=not tuple_)
        alternatives.append((test,) if not tuple_ else (guard, test))

    for family, values in (("ip", v4), ("ip6", v6)):
        if values:
            add(family, _set_text(sorted(values)))
    for family, set_name in set_refs:
        add(family, f"@{set_name}")
    return alternatives


def _flow(flow: FlowMatch, sets: dict[str, tuple[str, ...]]) -> DNF:
    """The packet's connection, by conntrack's original tuple. nft reads its ports only after
    `meta l4proto` names one protocol: a rule per protocol."""
    parts: list[DNF] = []
    ports = flow.src_port is not None or flow.dst_port is not None
    protocols = (flow.protocol,) if flow.protocol else ("tcp", "udp") if ports else None
    if protocols is not None:
        parts.append([(l4proto(protocols),)])
    for key, items in (("saddr", flow.src), ("daddr", flow.dst)):
        if items is not None:
            parts.append(_addresses(items, key, sets, tuple_="ct original "))
    for key, ranges in (("proto-src", flow.src_port), ("proto-dst", flow.dst_port)):
        if ranges is not None:
            text = _ports(ranges)
            parts.append([(guard, _guarded(guard, f"ct original {key} {text}",
                                           f"ct original {key} != {text}", implies_guard=False))
                          for guard in (l4proto((proto,)) for proto in protocols or ())])
    return _and(*parts)


def _payload(payload: PayloadMatch, guard: Literal) -> Literal:
    bits = len(payload.value) * 4
    offset = payload.offset * 8
    value = f"0x{payload.value}"
    if payload.mask:
        expr = f"@ih,{offset},{bits} & 0x{payload.mask} == {value}"
        neg = f"@ih,{offset},{bits} & 0x{payload.mask} != {value}"
    else:
        expr, neg = f"@ih,{offset},{bits} {value}", f"@ih,{offset},{bits} != {value}"
    return _guarded(guard, expr, neg, implies_guard=False)


def flag_bits(flags: list[str]) -> dict[str, str]:
    """Each flag's bit of the conntrack mark, as nft writes it."""
    return {name: f"0x{1 << index:08x}" for index, name in enumerate(flags)}


def read_literal(bit: int, holds: bool = True, depth: int = 4) -> Literal:
    """The reader's answer to one test, from the connection's mark. Undecided flows match
    neither the test nor its negation: not(yes) is (decided and no), and the reverse (to
    `depth` negations; a match nests far fewer)."""
    yes = f"ct mark & {bit:#010x} == {bit:#010x}"
    no = f"ct mark & {DECIDED_BIT | bit:#010x} == {DECIDED_BIT:#010x}"
    negation = ((read_literal(bit, not holds, depth - 1),),) if depth else ()
    return Literal(yes if holds else no, negation)


def compile_match(match: Match, sets: dict[str, tuple[str, ...]], flags: dict[str, str] | None = None,
                  reads: dict[tuple, int] | None = None) -> DNF:
    """The conjunctions (each one nft rule's match part) for `match`. `reads`: each reading
    test's bit of the connection's mark, keyed by (field, patterns) (compile/reading.py)."""
    flags = flags or {}
    reads = reads or {}
    parts: list[DNF] = []
    protocols = _protocols(match)
    if protocols is not None:
        parts.append([(l4proto(protocols),)])
    if match.src is not None:
        parts.append(_addresses(match.src, "saddr", sets))
    if match.dst is not None:
        parts.append(_addresses(match.dst, "daddr", sets))
    for port_field, ranges in (("sport", match.src_port), ("dport", match.dst_port)):
        if ranges is None:
            continue
        options: DNF = []
        for proto in protocols or ("tcp", "udp"):
            guard = l4proto((proto,))
            text = _ports(ranges)
            options.append((_guarded(guard, f"{proto} {port_field} {text}",
                                     f"{proto} {port_field} != {text}"),))
        parts.append(options)
    if match.length is not None:
        value, neg = _range_text(match.length)
        parts.append([(_plain(f"meta length {value}", f"meta length {neg}"),)])
    if match.payload_length is not None:
        value, neg = _range_text(match.payload_length, offset=8)  # udp length counts its header
        parts.append([(_guarded(l4proto(("udp",)), f"udp length {value}", f"udp length {neg}"),)])
    if match.dscp is not None:
        values = _set_text([str(v) for v in sorted(set(match.dscp))])
        parts.append([
            (_guarded(nfproto("ipv4"), f"ip dscp {values}", f"ip dscp != {values}"),),
            (_guarded(nfproto("ipv6"), f"ip6 dscp {values}", f"ip6 dscp != {values}"),),
        ])
    if match.payload is not None:
        guard = l4proto(protocols or ("tcp", "udp"))
        parts.append([(_payload(match.payload, guard),)])
    if match.flow is not None:
        parts.append(_flow(match.flow, sets))
    if match.flagged is not None:
        bit = flags[match.flagged]
        parts.append([(_plain(f"ct mark & {bit} == {bit}", f"ct mark & {bit} != {bit}"),)])
    for kind in READ_FIELDS:
        value = getattr(match, kind)
        if value is not None:
            parts.append([(read_literal(reads[test_key(kind, value)], holds=value is not False),)])
    for child in match.all or []:
        parts.append(compile_match(child, sets, flags, reads))
    if match.any:
        parts.append(_or(*[compile_match(child, sets, flags, reads) for child in match.any]))
    if match.not_ is not None:
        parts.append(negate(compile_match(match.not_, sets, flags, reads)))
    return _and(*parts) if parts else ALWAYS


def render_conj(conj: Conj) -> str:
    return " ".join(lit.text for lit in conj)
