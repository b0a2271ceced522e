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

from testbed.compile.plan import NftChain, NftRule, ReaderPlan, ReadTest, nft_names
from testbed.errors import InputError, Problem
from testbed.profile.checks import flags_of
from testbed.profile.loader import LoadedProfile
from testbed.profile.matches import READ_FIELDS, walk_paths
from testbed.profile.model import TrafficClass
from testbed.profile.yamlpos import line_of

DECIDED_BIT = 0x8000_0000
QUEUE_NUMBER = 0  # queues are per network namespace: one reader per censor
QUEUE_PRIORITY = -150  # before the classes' chain (priority 0): mangle's place, as iptables puts it
FIRST_DATA_PACKET = 3  # SYN, ACK, then the client's first data


def test_key(kind: str, value: object) -> tuple[str, tuple[str, ...]]:
    """A reading test as a match states it: the field and its patterns (none for booleans)."""
    return kind, tuple(value) if isinstance(value, list) else ()


def _asked(cls: TrafficClass) -> list[tuple[str, tuple[str, ...]]]:
    return [test_key(kind, getattr(node, kind)) for _, node in walk_paths(cls.match)
            for kind in READ_FIELDS if getattr(node, kind) is not None]


def read_tests(loaded: LoadedProfile) -> list[ReadTest]:
    """Each distinct reading test of the profile (field, patterns and its class's read
    options) with its bit, from the top of the mark down; an InputError, located, when
    they and the profile's flags (from the bottom up) do not fit 32 bits."""
    tests: list[ReadTest] = []
    for cls in loaded.profile.reading_classes():
        options = cls.read_options()
        for kind, patterns in _asked(cls):
            if not any((t.kind, t.patterns, t.packets, t.reassembly) ==
                       (kind, patterns, options.packets, options.reassembly) for t in tests):
                tests.append(ReadTest(DECIDED_BIT >> (len(tests) + 1), kind, patterns, options.packets,
                                      options.reassembly, cls.name))
    flags = len(flags_of(loaded.profile))
    if tests and flags and (1 << (flags - 1)) >= tests[-1].bit:
        at = ("classes",)
        raise InputError([Problem(str(loaded.source), line_of(loaded.lines, at), "classes",
                                  f"{flags} flags and {len(tests) + 1} reader bits do not fit the "
                                  "connection's 32-bit mark")])
    return tests


def class_reads(cls: TrafficClass, tests: list[ReadTest]) -> dict[tuple[str, tuple[str, ...]], int]:
    """The bits of the tests a class asks, keyed by test_key(), as compile_match looks them up."""
    options = cls.read_options()
    return {(t.kind, t.patterns): t.bit for t in tests
            if (t.packets, t.reassembly) == (options.packets, options.reassembly)}


def copy_rules(tests: list[ReadTest]) -> tuple[NftRule, ...]:
    """The reader's bits, set on the deciding packet, into its connection's mark."""
    rows = [(DECIDED_BIT, "decided"), *((t.bit, f"{t.kind} of {t.owner}") for t in tests)]
    return tuple(NftRule(f"meta mark & {bit:#010x} == {bit:#010x} ct mark set ct mark | {bit:#010x}",
                         f"reader: {what}") for bit, what in rows)


def reader_spec(reader: ReaderPlan) -> dict:
    """What the reader process is told (testbed/classify/reader.py reads it)."""
    return {"queue": reader.queue, "fail": reader.fail, "decided_bit": reader.decided_bit,
            "tests": [{"bit": t.bit, "kind": t.kind, "patterns": list(t.patterns), "packets": t.packets,
                       "reassembly": t.reassembly, "name": f"{t.kind} of {t.owner}"} for t in reader.tests]}


def reader_chain(table: str) -> str:
    """The iptables chain of a table's reader (iptables' chain names stop at 28 characters)."""
    return f"{table}-read"[:28]


def reader_plan(loaded: LoadedProfile, tests: list[ReadTest], inside: tuple[str, ...],
                outside: tuple[str, ...], table: str) -> ReaderPlan | None:
    if not tests:
        return None
    fail = loaded.profile.reading_classes()[0].read_options().fail  # one for all: the model checks
    sides = ((inside, outside), (outside, inside))  # whichever side opened the connection
    # SYN and RST carry nothing to read (a FIN may carry the last data, so it is read)
    unread = (f"meta l4proto tcp tcp flags & (syn | rst) == 0 ct direction original "
              f"ct mark & {DECIDED_BIT:#010x} == 0 ct original packets >= {FIRST_DATA_PACKET}")
    queue = f"queue num {QUEUE_NUMBER}" + (" bypass" if fail == "open" else "")
    rules = tuple(NftRule(f"iifname {nft_names(a)} oifname {nft_names(b)} {unread} {queue}",
                          "to the reader: undecided flows' client data") for a, b in sides)
    chain = reader_chain(table)
    xt = tuple(
        ("-t", "mangle", "-A", chain, "-i", a, "-o", b, "-p", "tcp", "--tcp-flags", "SYN,RST", "NONE",
         "-m", "conntrack", "--ctdir", "ORIGINAL",
         "-m", "connmark", "--mark", f"0/{DECIDED_BIT:#x}",
         "-m", "connbytes", "--connbytes", f"{FIRST_DATA_PACKET}:", "--connbytes-dir", "original",
         "--connbytes-mode", "packets",
         "-j", "NFQUEUE", "--queue-num", str(QUEUE_NUMBER), *(("--queue-bypass",) if fail == "open" else ()))
        for ins, outs in sides for a in ins for b in outs)
    return ReaderPlan(QUEUE_NUMBER, fail, DECIDED_BIT, tuple(tests),
                      NftChain("read", "forward", QUEUE_PRIORITY, rules), xt, chain)
