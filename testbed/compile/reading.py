"""The reading censor's part of a Plan: what the userspace reader tests, and how packets reach it.

Each distinct reading test of a profile (tls_sni with its patterns, http_host, tls_ech,
tls, with its class's read options) gets one bit of the connection's mark, from the top
down; one more bit, DECIDED, says the reader has finished with the flow. The reader sets
them on the packet that decides (its mark); the censor's forward chain copies them into
the connection's mark, and the classes test them there like a flag:

    test true:   ct mark & B == B          (the reader set B, so it decided)
    test false:  ct mark & (D|B) == D      (decided, and B unset)

A flow the reader has not decided yet matches neither, so a SYN passes a class that acts
on `not tls_sni`, and its ClientHello does not (a whitelist).

Until a flow is decided, its client's data packets go to NFQUEUE: from the third packet
of the connection's opening direction (after SYN and ACK; conntrack counts them), never a
packet of a decided flow. Kernels with nft's `queue` statement get a chain in the
profile's own table; others (this machine's: CONFIG_NFT_QUEUE unset) the xt NFQUEUE
target through iptables, in a chain named after the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.compile.plan import NftChain, NftRule
from testbed.errors import InputError, Problem
from testbed.profile.checks import flags_of
from testbed.profile.loader import LoadedProfile
from testbed.profile.matches import Match, walk_paths
from testbed.profile.model import Profile, ReadOptions, TrafficClass
from testbed.profile.yamlpos import line_of

DECIDED_BIT = 0x8000_0000
QUEUE_NUMBER = 0  # queues are per network namespace: one reader per censor
QUEUE_PRIORITY = -150  # before the classes' chain (priority 0): mangle's place, as iptables puts it
FIRST_DATA_PACKET = 3  # SYN, ACK, then the client's first data


@dataclass(frozen=True)
class ReadTest:
    """One test the reader answers per flow, with the bit of the mark that says yes."""

    bit: int
    kind: str  # tls_sni, http_host, tls_ech, tls
    patterns: tuple[str, ...]  # for tls_sni and http_host
    packets: int
    reassembly: str
    owner: str  # the first class that asks it, for people reading the plan


@dataclass(frozen=True)
class ReaderPlan:
    queue: int
    fail: str  # open: the kernel passes packets while no reader listens; closed: drops them
    decided_bit: int
    tests: tuple[ReadTest, ...]
    queue_chain: NftChain  # the nft form, where the kernel has `queue`
    iptables: tuple[tuple[str, ...], ...]  # the xt form: iptables arguments, one rule each
    iptables_chain: str

    @property
    def mask(self) -> int:
        return self.decided_bit | sum(t.bit for t in self.tests)

    @property
    def max_packets(self) -> int:
        return max(t.packets for t in self.tests)


def test_key(kind: str, value: object, options: ReadOptions | None = None) -> tuple:
    """What makes two reading tests one: the field, its patterns and (for the bit) how it reads."""
    patterns = tuple(value) if isinstance(value, list) else ()
    return (kind, patterns) if options is None else (kind, patterns, options.packets, options.reassembly)


def _tests_of(match: Match) -> list[tuple[str, object]]:
    return [(kind, getattr(node, kind)) for _, node in walk_paths(match)
            for kind in ("tls_sni", "http_host", "tls_ech", "tls") if getattr(node, kind) is not None]


def read_bits(profile: Profile, flag_count: int) -> tuple[dict[tuple, ReadTest], list[ReadTest]]:
    """Each reading test's bit, keyed by test_key() with the class's options."""
    by_key: dict[tuple, ReadTest] = {}
    bit = DECIDED_BIT >> 1
    for cls in profile.reading_classes():
        options = cls.read_options()
        for kind, value in _tests_of(cls.match):
            key = test_key(kind, value, options)
            if key not in by_key:
                by_key[key] = ReadTest(bit, kind, key[1], options.packets, options.reassembly, cls.name)
                bit >>= 1
    lowest = min((t.bit for t in by_key.values()), default=DECIDED_BIT)
    if flag_count and (1 << (flag_count - 1)) >= lowest:
        raise ValueError(f"{flag_count} flags and {len(by_key) + 1} reader bits do not fit the connection's "
                         "32-bit mark")
    return by_key, list(by_key.values())


def read_tests(loaded: LoadedProfile) -> tuple[dict[tuple, ReadTest], list[ReadTest]]:
    """read_bits() of a loaded profile; more bits than the mark holds is an InputError."""
    try:
        return read_bits(loaded.profile, len(flags_of(loaded.profile)))
    except ValueError as exc:
        raise InputError([Problem(str(loaded.source), line_of(loaded.lines, ("classes",)), "classes",
                                  str(exc))]) from None


def class_reads(cls: TrafficClass, by_key: dict[tuple, ReadTest]) -> dict[tuple, int]:
    """The bits of the reading tests a class asks, keyed (field, patterns) as compile_match
    looks them up: the tests read with this class's options."""
    options = test_key("", [], cls.read_options())[2:]
    return {key[:2]: test.bit for key, test in by_key.items() if key[2:] == options}


def copy_rules(decided: int, tests: list[ReadTest]) -> tuple[NftRule, ...]:
    """The reader's bits, set on the deciding packet, into its connection's mark."""
    return tuple(NftRule(f"meta mark & {bit:#010x} == {bit:#010x} ct mark set ct mark | {bit:#010x}",
                         "reader: " + ("decided" if bit == decided else f"{kind} of {owner}"))
                 for bit, kind, owner in [(decided, "", ""), *((t.bit, t.kind, t.owner) for t in tests)])


def _names(devices: tuple[str, ...]) -> str:
    quoted = [f'"{d}"' for d in devices]
    return quoted[0] if len(quoted) == 1 else "{ " + ", ".join(quoted) + " }"


def reader_spec(reader: ReaderPlan) -> dict:
    """What the reader process is told (testbed/classify/reader.py reads it)."""
    return {"queue": reader.queue, "fail": reader.fail, "decided_bit": reader.decided_bit,
            "tests": [{"bit": t.bit, "kind": t.kind, "patterns": list(t.patterns), "packets": t.packets,
                       "reassembly": t.reassembly, "name": f"{t.kind} of {t.owner}"} for t in reader.tests]}


def reader_chain(table: str) -> str:
    """The iptables chain of a table's reader (iptables' chain names stop at 28 characters)."""
    return f"{table}-read"[:28]


def reader_plan(profile: Profile, tests: list[ReadTest], inside: tuple[str, ...],
                outside: tuple[str, ...], table: str) -> ReaderPlan | None:
    if not tests:
        return None
    fail = profile.reading_classes()[0].read_options().fail
    bypass = " bypass" if fail == "open" else ""
    unread = (f"meta l4proto tcp ct direction original ct mark & {DECIDED_BIT:#010x} == 0 "
              f"ct original packets >= {FIRST_DATA_PACKET}")
    queue = f"queue num {QUEUE_NUMBER}{bypass}"
    rules = tuple(NftRule(f"iifname {_names(a)} oifname {_names(b)} {unread} {queue}",
                          "to the reader: undecided flows' client data")
                  for a, b in ((inside, outside), (outside, inside)))
    chain_name = reader_chain(table)
    xt = tuple(
        ("-t", "mangle", "-A", chain_name, "-i", a, "-o", b, "-p", "tcp",
         "-m", "conntrack", "--ctdir", "ORIGINAL",
         "-m", "connmark", "--mark", f"0/{DECIDED_BIT:#x}",
         "-m", "connbytes", "--connbytes", f"{FIRST_DATA_PACKET}:", "--connbytes-dir", "original",
         "--connbytes-mode", "packets",
         "-j", "NFQUEUE", "--queue-num", str(QUEUE_NUMBER), *(("--queue-bypass",) if fail == "open" else ()))
        for sides in ((inside, outside), (outside, inside)) for a in sides[0] for b in sides[1])
    return ReaderPlan(QUEUE_NUMBER, fail, DECIDED_BIT, tuple(tests),
                      NftChain("read", "forward", QUEUE_PRIORITY, rules), xt, chain_name)
