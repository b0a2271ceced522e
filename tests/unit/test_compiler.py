"""Profile -> Plan: golden command text, structure, determinism."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.compile.compiler import LINE_RATE_BPS, Target, compile_profile
from testbed.compile.match import compile_match, render_conj
from testbed.compile.render import netem_args, shell_script
from testbed.profile.loader import catalog, load_profile
from testbed.profile.matches import Match

DATA = Path(__file__).parent.parent / "data"
GOLDEN_SOURCES = [DATA / "profiles" / "everything.yaml", DATA / "profiles" / "tbf.yaml",
                  *catalog()]


@pytest.mark.parametrize("source", GOLDEN_SOURCES, ids=[p.stem for p in GOLDEN_SOURCES])
def test_golden_commands(source: Path) -> None:
    """The printed commands are reviewed by hand once; any change shows up as a diff.
    Regenerate with UPDATE_GOLDEN=1 after checking the new text."""
    text = shell_script(compile_profile(load_profile(source)))
    golden = DATA / "golden" / f"{source.stem}.sh"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def _plan(name: str = "everything", target: Target | None = None):
    return compile_profile(load_profile(DATA / "profiles" / f"{name}.yaml"), target)


def test_every_class_has_an_htb_class_and_leaf_per_interface() -> None:
    plan = _plan()
    profile = load_profile(DATA / "profiles" / "everything.yaml").profile
    for item in plan.interfaces:
        assert [c.classid for c in item.classes] == ["1:1", "1:2"] + [
            f"1:{0x10 + i:x}" for i in range(len(profile.classes))] + ["1:3"]
        assert [leaf.parent for leaf in item.leaves] == [c.classid for c in item.classes[1:]]
        assert item.default_minor == 2


def test_directions_use_their_own_devices_and_chains() -> None:
    plan = _plan(target=Target(("o0", "o1"), ("i0",), "tbl"))
    assert [(i.device, i.direction) for i in plan.interfaces] == [
        ("o0", "uplink"), ("o1", "uplink"), ("i0", "downlink")]
    forward = plan.nft.chains[0]
    assert [r.text for r in forward.rules] == [
        'iifname "i0" oifname { "o0", "o1" } jump uplink', 'iifname { "o0", "o1" } oifname "i0" jump downlink',
        'iifname { "o0", "o1" } oifname { "o0", "o1" } meta priority set 1:3',  # both abroad: untouched
        'iifname "i0" oifname "i0" meta priority set 1:3']
    assert plan.nft.table == "tbl"


def test_a_gateway_target_names_the_border_by_real_interfaces_and_marks_what_crosses_it() -> None:
    # the htb trees go on ifbs; nft tells directions apart by the real interfaces, and the
    # mark is what tc redirects into the ifbs (testbed/gateway)
    plan = _plan(target=Target(("tbgw-up",), ("tbgw-down",), "gw", ("wlan0",), ("eth0",), 0x4000000))
    assert [(i.device, i.direction) for i in plan.interfaces] == [("tbgw-up", "uplink"),
                                                                   ("tbgw-down", "downlink")]
    assert [r.text for r in plan.nft.chains[0].rules][:2] == [
        'iifname "wlan0" oifname "eth0" meta mark set meta mark | 0x04000000 jump uplink',
        'iifname "eth0" oifname "wlan0" meta mark set meta mark | 0x04000000 jump downlink']


def test_traffic_between_hosts_of_one_side_skips_the_profile_and_the_base_link() -> None:
    plan = _plan(target=Target(("o0", "o1"), ("i0",), "t"))
    for item in plan.interfaces:
        one_side = next(c for c in item.classes if c.classid == "1:3")
        assert (one_side.parent, one_side.rate_bps) == ("1:", LINE_RATE_BPS)
        assert next(leaf for leaf in item.leaves if leaf.parent == "1:3").kind == "pfifo"


def test_link_delay_adds_to_class_delay_and_rate_bounds_classes() -> None:
    plan = _plan()
    up = plan.interface("out0")
    stun = next(leaf for leaf in up.leaves if leaf.parent == "1:10")
    assert stun.netem is not None and stun.netem.delay_ns == 32_000_000
    default = next(leaf for leaf in up.leaves if leaf.parent == "1:2")
    assert default.kind == "netem" and default.netem.delay_ns == 2_000_000
    assert all(c.ceil_bps <= 100_000_000 for c in up.classes if c.classid == "1:1" or c.parent == "1:1")
    shaped = next(c for c in up.classes if c.label == "shaped")
    assert (shaped.rate_bps, shaped.ceil_bps, shaped.burst_bytes) == (1_000_000, 2_000_000, 4096)


def test_gemodel_and_state_follow_tc_argument_order() -> None:
    plan = _plan()
    leaves = {leaf.parent: leaf for leaf in plan.interface("out0").leaves}
    assert netem_args(leaves["1:12"].netem)[-6:] == ["loss", "gemodel", "5%", "30%", "90%", "0.5%"]
    assert "state 2% 60% 1% 90% 0.5%" in " ".join(netem_args(leaves["1:11"].netem))
    down = {leaf.parent: leaf for leaf in plan.interface("in0").leaves}
    assert "slot 5ms 15ms packets 8 bytes 12000" in " ".join(netem_args(down["1:11"].netem))


def test_stateful_rules() -> None:
    plan = _plan()
    rules = {c.name: [r.text for r in c.rules] for c in plan.nft.chains}
    assert ('meta l4proto tcp ip saddr @dc_v4 ct reply bytes > 16384 counter name "freeze.down" '
            'counter name "freeze.down.dropped" drop') in rules["downlink"]
    assert any("update @res_wireguard_up_v4 { ip saddr . ip daddr . meta l4proto . th dport } counter"
               in r for r in rules["uplink"])
    # residual blocks are checked first, in both directions, with the key turned around
    assert rules["downlink"][0].startswith(
        "meta l4proto { tcp, udp } ip daddr . ip saddr . meta l4proto . th sport @res_wireguard_up_v4")
    assert any("limit rate over 18750 bytes/second burst 16384 bytes" in r for r in rules["uplink"])
    assert rules["uplink"][-2:] == [
        'limit rate over 6250000 bytes/second burst 65536 bytes counter name "default.up" '
        'counter name "default.up.dropped" drop', 'meta priority set 1:2 counter name "default.up"']
    names = {s.name: s for s in plan.nft.sets}
    assert names["res_wireguard_up_v4"].timeout_s == 420
    assert names["pol_throttle_down_v6"].timeout_s == 600
    assert names["dc_v4"].elements == ("198.51.100.0/24", "192.0.2.0/24")
    assert "conntrack_acct" in plan.features and "sch_netem" in plan.features


def test_quic_rule_matches_length_and_version_bytes() -> None:
    rules = [r.text for r in _plan().nft.chains[1].rules if r.comment == "quic"]
    assert rules == ['udp dport 443 udp length >= 1009 @ih,8,32 0x00000001 counter name "quic.up" '
                     'counter name "quic.up.dropped" drop']


def test_plan_is_deterministic_and_json_roundtrips() -> None:
    import json

    a, b = _plan(), _plan()
    assert a == b and a.digest == b.digest
    assert json.loads(a.to_json())["profile"] == "everything"


@pytest.mark.parametrize("match,rules", [
    ({"protocol": "udp", "dst_port": 53}, ["udp dport 53"]),
    ({"dst_port": 443}, ["tcp dport 443", "udp dport 443"]),
    ({"not": {"protocol": "udp", "dst_port": 53}}, ["meta l4proto != udp", "udp dport != 53"]),
    ({"protocol": "udp", "not": {"dst_port": 53}}, ["udp dport != 53"]),
    ({"protocol": "tcp", "not": {"protocol": "udp"}}, ["meta l4proto tcp"]),
    ({"protocol": "tcp", "not": {"protocol": "tcp"}}, []),
    ({"not": {"dscp": 46}}, ["ip6 dscp != 46", "ip dscp != 46"]),
    ({"not": {"dst": "10.0.0.0/8"}}, ["meta nfproto ipv6", "ip daddr != 10.0.0.0/8"]),
    ({"any": [{"dst": ["10.0.0.0/8", "fd00::/8"]}]}, ["ip daddr 10.0.0.0/8", "ip6 daddr fd00::/8"]),
    ({"payload": {"offset": 4, "value": "0x2112a442"}}, ["meta l4proto { tcp, udp } @ih,32,32 0x2112a442"]),
    ({"all": [{"protocol": "udp"}, {"length": {"max": 200}}]}, ["meta l4proto udp meta length <= 200"]),
    ({}, [""]),
    # the connection, both ways: nft reads conntrack's ports after one protocol, and its
    # addresses without checking the family, so the rule says both
    ({"flow": {"dst_port": 5000}}, ["meta l4proto tcp ct original proto-dst 5000",
                                    "meta l4proto udp ct original proto-dst 5000"]),
    ({"flow": {"protocol": "udp", "src": "10.1.0.0/16", "src_port": "1000-2000"}},
     ["meta l4proto udp meta nfproto ipv4 ct original ip saddr 10.1.0.0/16 ct original proto-src 1000-2000"]),
    ({"not": {"flow": {"protocol": "udp", "dst_port": 5000}}},
     ["meta l4proto != udp", "meta l4proto udp ct original proto-dst != 5000"]),
    ({"not": {"flow": {"dst": "fd00::/8"}}}, ["meta nfproto ipv4", "meta nfproto ipv6 ct original ip6 daddr != fd00::/8"]),
    ({"dst": "10.0.0.1", "flow": {"dst": "10.0.0.1"}}, ["ip daddr 10.0.0.1/32 ct original ip daddr 10.0.0.1/32"]),
])
def test_match_dnf(match: dict, rules: list[str]) -> None:
    assert [render_conj(c) for c in compile_match(Match.model_validate(match), {})] == rules


leaf_matches = st.one_of(
    st.builds(lambda p: {"protocol": p}, st.sampled_from(["udp", "tcp", "icmp"])),
    st.builds(lambda p: {"protocol": "udp", "dst_port": p}, st.integers(1, 65535)),
    st.builds(lambda p: {"dst_port": p}, st.integers(1, 65535)),
    st.builds(lambda d: {"dscp": d}, st.integers(0, 63)),
    st.builds(lambda n: {"dst": f"10.{n}.0.0/16"}, st.integers(0, 255)),
    st.builds(lambda n: {"length": {"min": n}}, st.integers(0, 1500)),
    st.builds(lambda p: {"flow": {"dst_port": p}}, st.integers(1, 65535)),
    st.builds(lambda n: {"flow": {"protocol": "udp", "src": f"10.{n}.0.0/16"}}, st.integers(0, 255)),
)
matches = st.recursive(leaf_matches, lambda inner: st.one_of(
    st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda x: {"not": x}, inner),
), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(matches)
def test_match_compilation_is_deterministic_and_consistent(raw: dict) -> None:
    from testbed.compile.match import MatchTooLarge, _contradictory

    match = Match.model_validate(raw)
    try:
        first = compile_match(match, {})
    except MatchTooLarge:
        return
    assert first == compile_match(match, {})
    assert len(set(first)) == len(first)  # each rule once
    for conj in first:
        assert not _contradictory(list(conj))
        assert len({lit.text for lit in conj}) == len(conj)


def test_flags_mark_the_connection_and_later_classes_test_the_bit() -> None:
    from testbed.profile.loader import resolve_profile_path

    plan = compile_profile(load_profile(resolve_profile_path("ru-2023-vpn-block")))
    uplink = next(c for c in plan.nft.chains if c.name == "uplink")
    texts = {r.comment: r.text for r in uplink.rules}
    assert "ct mark set ct mark | 0x00000001" in texts["wireguard-handshake"]
    assert "ct mark set ct mark | 0x00000001" in texts["openvpn-handshake"]
    assert texts["vpn-flows"] == ('ct mark & 0x00000001 == 0x00000001 ct packets > 8 counter name "vpn-flows.up" '
                                  'counter name "vpn-flows.up.dropped" drop')
    # the mark is a statement: it comes after every match of its rule
    rule = texts["wireguard-handshake"]
    assert rule.index("@ih,0,32") < rule.index("ct mark set") < rule.index("accept")


def test_each_flag_gets_its_own_bit_and_negation_tests_it() -> None:
    from testbed.compile.match import flag_bits

    bits = flag_bits(["a", "b", "c"])
    assert bits == {"a": "0x00000001", "b": "0x00000002", "c": "0x00000004"}
    dnf = compile_match(Match.model_validate({"not": {"flagged": "b"}}), {}, bits)
    assert [render_conj(c) for c in dnf] == ["ct mark & 0x00000002 != 0x00000002"]


def test_every_classifying_rule_counts_what_its_class_took_and_drops() -> None:
    """Each rule of a class names the counter of its class and direction; a rule that drops
    (drop, reject, police, a residual block) also the class's dropped counter. The counters
    are declared in class order, default last, a dropped one only where it is used."""
    import re

    from testbed.kernel.counters import parse_counter_name

    plan = _plan()
    declared = list(plan.nft.counters)
    used: set[str] = set()
    for chain in plan.nft.chains:
        if chain.name == "forward":
            continue
        short = "up" if chain.name == "uplink" else "down"
        for rule in chain.rules:
            names = re.findall(r'counter name "([^"]+)"', rule.text)
            used.update(names)
            owner = rule.comment.removesuffix(": residual block")
            assert names[0] == f"{owner}.{short}", rule
            drops = rule.text.endswith("drop") or " reject " in rule.text
            assert names[1:] == ([f"{owner}.{short}.dropped"] if drops else []), rule
    assert set(declared) == used | {n for n in declared if not n.endswith(".dropped")}
    assert len(declared) == len(set(declared))
    classes = [c.name for c in load_profile(DATA / "profiles" / "everything.yaml").profile.classes]
    order = list(dict.fromkeys(parse_counter_name(n)[0] for n in declared))
    assert order == [*classes, "default"]
    assert "app.down.dropped" in declared and "app.up.dropped" not in declared  # it polices downlink only
