"""The shell's pure parts: output formats, what the VM sees, the workload registry, the
layering and the size of modules."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from testbed.cli.output import Output, plain_table
from testbed.errors import InputError
from testbed.scenario.loader import load_scenario
from testbed.scenario.workloads import CENSOR_METRICS, TYPES, metrics_of
from testbed.scenario.workloads.ping import parse_summary
from testbed.scenario.workloads.voip import Voip
from testbed.vm import shares
from tests.cli import ROOT, run_cli

# --- output ------------------------------------------------------------------------------------


def test_plain_tables_align_and_never_cut() -> None:
    name = "ru-2025-calls-degraded-with-a-name-longer-than-eighty-columns-of-any-terminal-at-all"
    text = plain_table(["name", "MOS"], [[name, "4.38"], ["clean", "12.1"]], title="T", caption="C")
    lines = text.splitlines()
    assert lines[0] == "T" and lines[-1] == "C" and name in text
    assert lines[3].endswith(" 4.38") and lines[4].endswith(" 12.1")  # numbers right-aligned
    assert "\x1b" not in text and "─" not in text


def test_piped_output_has_no_escape_codes_and_json_has_no_nan() -> None:
    listed = run_cli("profiles", "list")
    assert listed.returncode == 0 and "\x1b[" not in listed.stdout and "┃" not in listed.stdout
    assert "ru-2025-calls-degraded" in listed.stdout
    data = json.loads(run_cli("profiles", "list", "--json").stdout)
    assert {p["name"] for p in data} >= {"clean", "ru-2025-calls-degraded"}
    shown = json.loads(run_cli("profiles", "show", "clean", "--json").stdout)
    assert shown["name"] == "clean" and shown["signature"].endswith("clean.yaml")


def test_json_turns_not_measured_into_null(capsys) -> None:
    Output(as_json=True).json({"mos": float("nan"), "rows": [1.5, float("inf")]})
    assert json.loads(capsys.readouterr().out) == {"mos": None, "rows": [1.5, None]}


def test_help_shows_choices_versions_and_the_command_after_a_double_dash() -> None:
    assert run_cli("--version").stdout.startswith("testbed, version")
    assert "[netns|mininet]" in run_cli("up", "-h").stdout
    assert "-- COMMAND..." in run_cli("exec", "--help").stdout
    assert "-- COMMAND..." in run_cli("vm", "run", "--help").stdout
    for command in ("up", "apply", "calls", "matrix", "run", "try", "status", "clean", "compare"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "Traceback" not in result.stderr, command


def test_status_says_when_nothing_is_up(monkeypatch) -> None:
    from click.testing import CliRunner

    from testbed.cli import topology

    monkeypatch.setattr(topology, "_local_runs", lambda counters=False: [])
    monkeypatch.setattr(topology, "_vm_runs", lambda counters=False: [])
    result = CliRunner().invoke(topology.status, [])
    assert result.exit_code == 0 and "no runs are up" in result.output


# --- what the VM sees ----------------------------------------------------------------------------


def test_the_vm_shares_the_tree_the_working_directory_and_the_outputs(tmp_path) -> None:
    work = (tmp_path / "work").resolve()
    view = shares.plan(ROOT, work, outputs=[work / "out", Path("/srv/results")])
    assert set(view.shares) == {ROOT, Path("/srv/results"), work}  # work/out is inside a share already


def test_inputs_outside_the_shares_are_copied_and_system_directories_never_shared(tmp_path) -> None:
    view = shares.plan(ROOT, Path("/tmp"), inputs=[Path("/tmp/x.yaml"), ROOT / "profiles" / "clean.yaml"])
    assert view.shares == (ROOT,)  # /tmp would hide the guest's own /tmp: not shared
    assert view.copies == (Path("/tmp/x.yaml"),) and view.cwd == Path("/tmp")
    for system in ("/", "/usr", "/usr/lib", "/etc", "/tmp", "/run", "/var"):
        assert not shares.shareable(Path(system)), system
    assert shares.shareable(Path("/tmp/pytest-of-root/x")) and shares.shareable(Path("/home/me"))
    with pytest.raises(InputError, match="cannot write there"):
        shares.plan(ROOT, tmp_path, outputs=[Path("/usr")])


# --- workloads -----------------------------------------------------------------------------------


def test_every_workload_type_declares_its_metrics_with_units_and_meanings() -> None:
    assert set(TYPES) == {"chat", "command", "download", "https", "iperf3", "ping", "probe", "voip", "webrtc"}
    for name, cls in TYPES.items():
        assert cls.METRICS, name
        names = [m.name for m in cls.METRICS]
        assert len(names) == len(set(names)), name
        assert all(m.description for m in cls.METRICS), name
    assert metrics_of("censor") == CENSOR_METRICS


def test_voip_reports_exactly_the_metrics_it_declares() -> None:
    from testbed.measure.call import stream_metrics
    from testbed.measure.emodel import CODECS
    from testbed.report.speech import ROW_METRICS as SCORES
    from testbed.scenario.workloads.voip import summarise
    from tests.unit.test_measure import _synthetic  # a generated trace

    trace = _synthetic(0.05, n=500)
    figures = summarise([trace], [stream_metrics(trace, CODECS["g711"])])
    assert set(figures) | set(SCORES) == {m.name for m in Voip.METRICS}  # the scoring stage adds SCORES
    assert not set(figures) & set(SCORES)


def test_ping_summary_is_parsed_with_and_without_replies() -> None:
    answered = parse_summary("5 packets transmitted, 4 received, 20% packet loss, time 802ms\n"
                             "rtt min/avg/max/mdev = 0.050/0.081/0.120/0.020 ms\n")
    assert answered == {"rtt": 0.081, "rtt_max": 0.12, "loss": 20.0}
    silent = parse_summary("5 packets transmitted, 0 received, 100% packet loss, time 4090ms\n")
    assert silent["loss"] == 100.0 and silent["rtt"] != silent["rtt"]  # NaN: nothing to time
    assert set(answered) == {m.name for m in TYPES["ping"].METRICS}


def test_old_role_keys_still_work_with_a_located_note(tmp_path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"name": "old", "title": "t", "phases": [{"name": "a", "duration": "2s"}],
                                    "workloads": [{"type": "voip", "caller": "caller", "callee": "callee"},
                                                  {"type": "chat", "receiver": "nowhere"}]}, sort_keys=False))
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert "workloads[1].receiver: no host 'nowhere'" in str(caught.value)  # named as written
    path.write_text(path.read_text().replace("nowhere", "callee"))
    loaded = load_scenario(path)
    assert loaded.scenario.workloads[0].server == "callee"
    assert [str(w).split(": ", 1)[1] for w in loaded.warnings] == [
        "workloads[0].caller: deprecated: write 'client' (the 'caller' key still works, for now)",
        "workloads[0].callee: deprecated: write 'server' (the 'callee' key still works, for now)",
        "workloads[1].receiver: deprecated: write 'server' (the 'receiver' key still works, for now)"]
    assert all(":" in str(w).split(": ")[0] for w in loaded.warnings)  # file:line


def test_a_call_from_a_host_to_itself_is_refused(tmp_path) -> None:
    path = tmp_path / "self.yaml"
    path.write_text("name: s\ntitle: t\nphases: [{name: a, duration: 2s}]\n"
                    "workloads: [{type: voip, client: caller, server: caller}]\n")
    with pytest.raises(InputError, match=r"4: workloads\[0\].server: client and server are both 'caller'"):
        load_scenario(path)


# --- the layering and the size of modules -------------------------------------------------------------


def test_the_import_layers_hold() -> None:
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "testbed").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


@pytest.mark.parametrize("failure", ["hangs", "stops"])
def test_kvm_that_fails_in_any_way_falls_back_to_tcg(failure: str, monkeypatch, tmp_path) -> None:
    """KVM hangs a stock guest on some hosts (the probe times out: VMError) and stops it at
    once on others (the guest's command is lost: CommandLost); both mean TCG, remembered."""
    from testbed.vm import commands, machine, qemu

    def broken_kvm(*args, **kwargs) -> int:
        raise (machine.VMError("did not finish") if failure == "hangs" else commands.CommandLost("stopped"))

    monkeypatch.setattr(qemu, "run", broken_kvm)
    monkeypatch.setattr(machine, "CACHE", tmp_path)
    monkeypatch.delenv("TESTBED_VM_ACCEL", raising=False)
    monkeypatch.setattr(machine.os, "access", lambda path, mode: True)
    image = type("FakeImage", (), {"directory": tmp_path / "f00d"})()
    assert machine.probe_accel(image) == "tcg"
    assert [p.read_text() for p in tmp_path.glob("kvm-*")] == ["tcg"]


def test_a_vm_that_fails_before_qemu_starts_leaves_no_spec_directory(monkeypatch, tmp_path) -> None:
    """The KVM probe, copying inputs or starting QEMU can fail inside Machine(): nothing stops
    such a machine, so it must not leave its directory under /run/testbed/vm."""
    from testbed.vm import machine

    image = type("FakeImage", (), {"directory": tmp_path / "img", "ready": True})()
    monkeypatch.setattr(machine, "SPEC_ROOT", tmp_path / "specs")
    monkeypatch.setattr(machine, "qemu_argv", lambda *args: ["/nonexistent/qemu-system-x86_64"])
    with pytest.raises(FileNotFoundError):
        machine.Machine({"mode": "run", "argv": ["true"]}, [], accel="tcg", image=image)
    assert not list((tmp_path / "specs").iterdir())

    def failing_probe(image) -> str:
        raise machine.VMError("probe failed")

    monkeypatch.setattr(machine, "probe_accel", failing_probe)
    with pytest.raises(machine.VMError):
        machine.Machine({"mode": "run", "argv": ["true"]}, [], image=image)
    assert not list((tmp_path / "specs").iterdir())


def test_a_vm_console_is_read_while_it_runs(monkeypatch, tmp_path) -> None:
    """A one-shot VM's console goes to a pipe that a thread drains: QEMU never blocks on a full
    pipe, and the console's last lines are there to explain a failure."""
    from testbed.vm import machine

    image = type("FakeImage", (), {"directory": tmp_path / "img", "ready": True})()
    monkeypatch.setattr(machine, "SPEC_ROOT", tmp_path / "specs")
    monkeypatch.setattr(machine, "STATE_DIR", tmp_path / "state")
    chatty = [sys.executable, "-c", "import sys; sys.stdout.write('boot noise\\n' * 30000); print('last line')"]
    monkeypatch.setattr(machine, "qemu_argv", lambda *args: chatty)
    vm = machine.Machine({"mode": "run", "argv": ["true"]}, [], accel="tcg", image=image)
    try:
        vm.proc.wait(timeout=30)  # 330 kB: more than a pipe holds, so only a reader lets it end
        deadline = time.monotonic() + 10
        while "last line" not in vm.console_tail() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert vm.console_tail().endswith("last line\n")
    finally:
        vm.stop()
    assert not list((tmp_path / "specs").iterdir()) and not list((tmp_path / "state").iterdir())


def test_clean_sweeps_spec_directories_no_vm_names(monkeypatch, tmp_path) -> None:
    """A process killed between creating a VM's spec directory and starting QEMU leaves a
    directory no pid file names: testbed clean removes it once it is older than a start takes."""
    import os

    from testbed.kernel.process import start_time
    from testbed.vm import machine

    monkeypatch.setattr(machine, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(machine, "SPEC_ROOT", tmp_path / "state" / "vm")
    live, orphan, young = (machine.SPEC_ROOT / name for name in ("live", "orphan", "young"))
    for directory in (live, orphan, young):
        directory.mkdir(parents=True)
    old = time.time() - 2 * machine.ORPHAN_AGE_S
    os.utime(orphan, (old, old))
    os.utime(live, (old, old))
    # a running VM (this process stands in for its QEMU), owned by a live process
    (machine.STATE_DIR / "qemu-1.pid").write_text(json.dumps({
        "pid": os.getpid(), "started": start_time(os.getpid()), "spec": str(live),
        "owner": os.getpid(), "owner_started": start_time(os.getpid())}))
    assert machine.stop_all() == []
    assert sorted(p.name for p in machine.SPEC_ROOT.iterdir()) == ["live", "young"]
    assert machine.stop_all(owner=12345) == [] and young.exists()  # --pid: only that process' VMs
    # the record of a VM gone with its owner, process 4242 started at tick 7: `clean --pid 4242
    # --pid-started 8` names another process that had that pid, and leaves it; tick 7 takes it
    gone = machine.STATE_DIR / "qemu-2.pid"
    gone.write_text(json.dumps({"pid": 2**31, "started": 1, "owner": 4242, "owner_started": 7}))
    assert machine.stop_all(owner=4242, owner_started=8) == [] and gone.exists()
    assert machine.stop_all(owner=4242, owner_started=7) == [] and not gone.exists()
    machine._sweep_orphaned_specs(everything=True)
    assert sorted(p.name for p in machine.SPEC_ROOT.iterdir()) == ["live"]


def test_the_speech_cache_is_shared_at_its_own_path_unless_a_share_holds_it(monkeypatch, tmp_path) -> None:
    """Voices and encoded media are made once for the host and every VM: the guest is told the
    host's cache and its speech directory is mounted there; nothing is shared twice, and a
    cache that cannot be made is not shared (the guest then makes its own, per boot)."""
    from testbed.speech import cache
    from testbed.vm import machine

    monkeypatch.setattr(cache, "CACHE", tmp_path / "cache" / "speech")
    assert machine.speech_cache([]) == [tmp_path / "cache" / "speech"]
    assert (tmp_path / "cache" / "speech").is_dir()
    assert machine.guest_env()["TESTBED_CACHE"] == str(tmp_path / "cache")  # the guest's CACHE/speech
    assert machine.speech_cache([tmp_path]) == []
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setattr(cache, "CACHE", tmp_path / "file" / "speech")
    assert machine.speech_cache([]) == []


def test_a_signal_before_the_guest_began_the_command_asks_nothing_of_it(tmp_path) -> None:
    """Ctrl-C while the VM boots: no interrupt file (nothing would read it until the command
    had started) and no wait; once the command has begun, it is asked to stop and followed."""
    from testbed.vm.commands import Stream

    stream = Stream(tmp_path, "command", quiet=True)
    assert stream.stop(signal.SIGINT, lambda: True) is None
    assert not (tmp_path / "command.interrupt").exists()
    (tmp_path / "command.stdout").write_bytes(b"")
    (tmp_path / "command.exit").write_text("130")
    assert stream.stop(signal.SIGINT, lambda: True) == 130
    assert (tmp_path / "command.interrupt").read_text() == str(int(signal.SIGINT))
