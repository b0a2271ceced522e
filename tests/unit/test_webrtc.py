"""WebRTC calls, the pure parts: the figures from what the peers saw, the signalling relay,
and what a webrtc workload accepts."""

from __future__ import annotations

import asyncio
import math

import pytest
from pydantic import ValidationError

from testbed.errors import InputError
from testbed.measure.webrtc import STALL_S, summarise
from testbed.scenario.workloads.webrtc import Webrtc
from testbed.traffic import signalling


def _side(connected: bool = True, pair: tuple[str, str] = ("host", "host"), received=(50, 100, 150),
          lost: int = 0, rtt: float | None = 1.0, jitter: float = 2.0) -> dict:
    stats = [[1000.0 * (k + 1), rtt if k else None, jitter, lost, n, 1000 * (k + 1), 1000 * (k + 1)]
             for k, n in enumerate(received)]
    return {"connected": connected, "setup_ms": 40.0 if connected else None, "redials": 0,
            "pair": {"local": pair[0], "remote": pair[1], "transport": "udp"} if connected else None,
            "stats": stats if connected else []}


def test_figures_of_connected_calls() -> None:
    figures = summarise([_side(), _side(pair=("relay", "host"))], [_side(), _side(pair=("host", "relay"))], "tls")
    assert figures["connected"] == 1 and figures["setup_time"] == 40
    assert (figures["pair_host"], figures["pair_relay"], figures["relay_tcp"]) == (0.5, 0.5, 1.0)
    assert figures["rtt"] == 1.0  # the sample before the first RTCP report has none
    assert figures["loss"] == 0 and figures["kbit"] == pytest.approx(8.0) and figures["stalled"] == 0


def test_redials_are_counted_once_per_attempt() -> None:
    """Both peers report the attempts of a call; the caller dials them."""
    first, second = _side(), _side()
    first["redials"], second["redials"] = 2, 1
    answered = [dict(first), dict(second)]
    assert summarise([first, second], answered)["redials"] == 3


def test_a_call_that_never_connected_counts_in_connected_only() -> None:
    figures = summarise([_side(connected=False), _side()], [_side(connected=False), _side()])
    assert figures["connected"] == 0.5 and figures["pair_host"] == 1
    none = summarise([_side(connected=False)], [_side(connected=False)])
    assert none["connected"] == 0 and all(math.isnan(none[k]) for k in ("setup_time", "rtt", "loss", "relay_tcp"))


def test_loss_and_a_stall_are_seen() -> None:
    flat = [50] + [60] * int(STALL_S + 1)
    figures = summarise([_side(received=flat, lost=20)], [_side()])
    assert figures["loss"] == pytest.approx(100 * 20 / 80 / 2)  # one side lost 20 of 80, the other none
    assert figures["stalled"] == 0.5
    short = summarise([_side(received=[50] + [60] * int(STALL_S - 1))], [_side()])
    assert short["stalled"] == 0


def test_relay_only_needs_a_turn_server_and_speech_sources_are_checked(tmp_path) -> None:
    with pytest.raises(ValidationError, match="relay only needs a TURN server"):
        Webrtc(type="webrtc", policy="relay", ice="stun")
    with pytest.raises(ValidationError, match="neither a voice"):
        Webrtc(type="webrtc", speech=["en-x"])
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(ValidationError, match="not a readable sound file"):
        Webrtc(type="webrtc", speech=[str(tmp_path / "text.wav")])
    assert Webrtc(type="webrtc", speech="none").speech == []
    assert "turn" not in Webrtc(type="webrtc").nodes()
    assert Webrtc(type="webrtc", ice="turn-tls").nodes()["turn"] == "turn"


def test_the_relay_forwards_each_side_to_the_other_holding_messages_for_a_late_side(tmp_path) -> None:
    transcript = tmp_path / "signalling.log"

    async def scenario() -> list[dict]:
        relay = signalling.Relay(transcript)
        server = await asyncio.start_server(relay.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, caller = await asyncio.open_connection("127.0.0.1", port)
        caller.write(signalling.encode({"hello": "caller"}) + signalling.encode({"call": 0, "offer": "v=0"}))
        await caller.drain()
        await asyncio.sleep(0.05)  # the offer waits for the callee
        callee_in, callee = await asyncio.open_connection("127.0.0.1", port)
        callee.write(signalling.encode({"hello": "callee"}))
        got = [signalling.decode(await asyncio.wait_for(callee_in.readline(), 5))]
        caller.close()
        callee.close()
        server.close()
        return got

    assert asyncio.run(scenario()) == [{"call": 0, "offer": "v=0"}]
    assert transcript.read_text().endswith(" to callee: call 0 offer\n    v=0\n")  # the SDP as written


def test_a_signalling_message_is_a_json_object() -> None:
    with pytest.raises(ValueError):
        signalling.decode(b"[1, 2]\n")
    assert signalling.other("caller") == "callee"


def test_the_report_shows_each_call_its_pair_and_its_ice_states(tmp_path) -> None:
    import json

    from testbed.report import webrtc as report

    (tmp_path / "traces").mkdir()
    timeline = [[100.0, "offer", "created"], [112.0, "ice", "checking"], [145.0, "ice", "completed"]]
    caller = [{"call": 0, "connected": True, "setup_ms": 45.0, "timeline": timeline,
               "pair": {"local": "relay", "remote": "host", "transport": "udp"}},
              {"call": 1, "connected": False, "setup_ms": None, "pair": None,
               "timeline": [[100.0, "offer", "created"], [5100.0, "deadline", "not connected"]]}]
    (tmp_path / "traces" / "rep1-p-w.json").write_text(json.dumps({"ice": "turn-tls", "caller": caller}))
    info = {"definition": {"phases": [{"name": "p"}], "workloads": [{"type": "webrtc", "name": "w"},
                                                                    {"type": "chat", "name": "c"}]}}
    lines = report.summary_lines(tmp_path, info)
    assert "| p | w | 0 | turn-tls | yes | 45 ms | relay to host (relay over tls) | checking 12 ms, " \
           "completed 45 ms |" in lines
    assert "| p | w | 1 | turn-tls | no | - | - | not connected 5000 ms |" in lines
    page = report.section_html(tmp_path, info)
    assert page.count("<tr>") == 3 and "aiortc issue #543" in page
    (tmp_path / "traces" / "rep1-p-w.json").write_text("{")
    with pytest.raises(InputError, match="rep1-p-w.json"):
        report.calls(tmp_path, info)


def _load_written(tmp_path, asked, profile=None):
    from testbed.scenario.loader import load_scenario
    from testbed.scenario.webrtc_calls import scenario, write

    return load_scenario(write(scenario(asked, profile), tmp_path / "scenario.yaml"))


def test_calls_stack_webrtc_writes_a_scenario_that_loads_as_asked(tmp_path, monkeypatch) -> None:
    """`testbed calls --stack webrtc`'s one-phase scenario: the profile by name (catalog) or by
    absolute path, WAVs by absolute path (the file is written elsewhere than the user's cwd),
    the TURN host only when ICE servers are used, every call scored."""
    import shutil

    import soundfile

    from testbed.profile.loader import PROFILE_DIR, load_profile
    from testbed.scenario.webrtc_calls import WebrtcCalls
    from testbed.speech.reference import speech

    monkeypatch.chdir(tmp_path)
    soundfile.write(tmp_path / "mine.wav", speech("ru-f", 16000), 16000)
    shutil.copy(PROFILE_DIR / "ru-2025-calls-blocked.yaml", tmp_path / "custom.yaml")
    (tmp_path / "out").mkdir()
    asked = WebrtcCalls(calls=3, seconds=12, codec="opus", ice="turn-tls", relay_only=True,
                        connect_timeout=4, redials=2, speech=("en-m", "mine.wav"))
    loaded = _load_written(tmp_path / "out", asked, load_profile(PROFILE_DIR / "ru-2025-calls-degraded.yaml"))
    scenario = loaded.scenario
    (workload,) = scenario.workloads
    assert (workload.calls, workload.codec, workload.ice, workload.policy) == (3, "opus", "turn-tls", "relay")
    assert (workload.connect_timeout, workload.redials, workload.scored_calls) == (4e9, 2, 3)
    assert workload.speech == ["en-m", str(tmp_path / "mine.wav")]
    assert loaded.profiles["censor"].profile.name == "ru-2025-calls-degraded"
    (phase,) = scenario.phases
    assert (phase.duration, phase.profile) == (12e9, "censor")
    assert {h.name for h in scenario.topology.outside} == {"callee", "sig", "turn"}
    custom = _load_written(tmp_path / "out", WebrtcCalls(speech=("none",)), load_profile(tmp_path / "custom.yaml"))
    assert custom.profiles["censor"].source == tmp_path / "custom.yaml"
    assert custom.scenario.workloads[0].speech == [] and "turn" not in {h.name for h in custom.scenario.topology.outside}
    clean = _load_written(tmp_path / "out", WebrtcCalls())
    assert clean.profiles == {} and clean.scenario.phases[0].profile is None


def test_calls_stack_webrtc_names_the_option_a_problem_came_from(tmp_path) -> None:
    from testbed.scenario.webrtc_calls import WebrtcCalls, as_options

    asked = WebrtcCalls(speech=("en-f", "gone.wav"))
    with pytest.raises(InputError) as caught:
        _load_written(tmp_path, asked)
    assert str(as_options(caught.value, asked)) == "command line: --speech gone.wav: no such file"
