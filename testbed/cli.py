"""The `testbed` command. Thin: parse arguments, call the modules, print, pick an exit code.

Exit codes: 0 success, 1 a check failed, 2 bad input (nothing changed), 3 the kernel or
machine lacks something the command needs (nothing changed), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from testbed.profile.errors import InputError, KernelFeatureMissing

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Reproduce censorship throttling with tc/netem and nftables, and measure it.")
profiles_app = typer.Typer(no_args_is_help=True, help="The profile catalog: list, show, validate.")
app.add_typer(profiles_app, name="profiles")
vm_app = typer.Typer(no_args_is_help=True,
                     help="The testbed VM: a stock Debian kernel with netem, under QEMU.")
app.add_typer(vm_app, name="vm")
out = Console(soft_wrap=True)  # long lines stay whole: people grep them
err = Console(stderr=True)

RunOption = Annotated[str, typer.Option("--run", "-r", help="run id: names its namespaces (tb-RUN-NODE)")]
WhereOption = Annotated[str, typer.Option(
    help="auto: this kernel if it has every feature the profile needs, else the VM; local; vm")]
DEFAULT_RUN = "main"


def _fail(code: int, message: str) -> None:
    print(message, file=sys.stderr)
    raise typer.Exit(code)


def _need_root() -> None:
    if os.geteuid() != 0:
        _fail(3, "this command changes network namespaces and needs root: run it with sudo")


def _load(profile: str):
    from testbed.profile.loader import load_profile, resolve_profile_path

    return load_profile(resolve_profile_path(profile))


def _state(run: str):
    import re

    from testbed.topology.model import RUN_ID_PATTERN, TopologyState, state_path

    if not re.fullmatch(RUN_ID_PATTERN, run):
        raise InputError.single(f"--run {run!r}: use 1-8 lower case letters or digits")
    if not state_path(run).exists():
        _fail(2, f"run {run!r} is not up; start it with `testbed up --run {run}`")
    return TopologyState.load(run)


# --- profiles ---------------------------------------------------------------------------------


@profiles_app.command("list")
def profiles_list() -> None:
    """The catalog: name, confidence, title and last signature result of each profile."""
    from testbed.profile.loader import catalog, load_profile
    from testbed.report.catalog import MEASURED

    measured = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
    table = Table("name", "confidence", "title", "signature")
    for path in catalog():
        try:
            p = load_profile(path).profile
        except InputError as exc:
            table.add_row(path.stem, "[red]invalid[/red]", str(exc.problems[0].message), "")
            continue
        record = measured.get(p.name)
        verdict = "-" if record is None else (
            f"{'passed' if record['passed'] else '[red]failed[/red]'} {record['date']}")
        table.add_row(p.name, p.confidence, p.title, verdict)
    out.print(table)
    out.print("signature: the last measured run (docs/signatures.json); `testbed run NAME` runs it")


@profiles_app.command("show")
def profiles_show(profile: Annotated[str, typer.Argument(help="catalog name or YAML path")]) -> None:
    """A profile's description, provenance and classes."""
    loaded = _load(profile)
    p = loaded.profile
    out.print(f"[bold]{p.name}[/bold]: {p.title}  ({p.confidence})")
    if p.description:
        out.print(p.description.strip())
    for source in p.provenance:
        out.print(f"  source: {source}")
    for cls in p.classes:
        out.print(f"  class [bold]{cls.name}[/bold]: {cls.description or ''}")
    from testbed.scenario.loader import signature_path

    signature = signature_path(p.name)
    if signature.exists():
        out.print(f"signature: {signature} (testbed run {p.name})")
    out.print(f"file: {loaded.source}   sha256: {loaded.sha256[:16]}")


@profiles_app.command("validate")
def profiles_validate(profiles: Annotated[list[str] | None, typer.Argument(
        help="catalog names or YAML files; none: the whole catalog")] = None) -> None:
    """Check profiles; every problem is printed with its file, line and field."""
    from testbed.compile.compiler import compile_profile
    from testbed.profile.loader import catalog, load_profile, resolve_profile_path

    problems = []
    for name in profiles or [str(p) for p in catalog()]:
        try:
            path = resolve_profile_path(name)
            compile_profile(load_profile(path))
            out.print(f"{path}: ok")
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)


@profiles_app.command("docs")
def profiles_docs(
    measured: Annotated[Path | None, typer.Option(help="a directory of signature results "
                                                  "(TESTBED_SIGNATURES_OUT) to merge first")] = None,
    check: Annotated[bool, typer.Option("--check", help="only report whether docs/profiles.md is "
                                        "up to date (exit 1 if not)")] = False,
) -> None:
    """Write docs/profiles.md from the catalog: sources, classes, commands, signatures."""
    from testbed.report import catalog as docs

    if check:
        if docs.is_stale():
            _fail(1, f"{docs.DOCS} is out of date: run `testbed profiles docs`")
        out.print(f"{docs.DOCS} is up to date")
        return
    if measured is not None:
        if not measured.is_dir():
            raise InputError.single(f"--measured {measured}: not a directory")
        names = docs.merge_measured(measured)
        err.print(f"merged measured signatures of {len(names)} profiles into {docs.MEASURED}")
    docs.DOCS.parent.mkdir(parents=True, exist_ok=True)
    docs.DOCS.write_text(docs.render_catalog())
    out.print(f"wrote {docs.DOCS}")


@profiles_app.command("schema")
def profiles_schema() -> None:
    """JSON Schema of the profile language, for editors."""
    from testbed.profile.schema import profile_json_schema

    print(json.dumps(profile_json_schema(), indent=2))


# --- plan / apply / clear ----------------------------------------------------------------------


@app.command()
def plan(
    profile: Annotated[str, typer.Argument(help="catalog name or YAML path")],
    as_json: Annotated[bool, typer.Option("--json", help="print the Plan as JSON")] = False,
    netns: Annotated[str | None, typer.Option(help="prefix commands with `ip netns exec NETNS`")] = None,
) -> None:
    """Print the tc and nft commands that implement PROFILE (no root needed, nothing changes)."""
    from testbed.compile.compiler import compile_profile
    from testbed.compile.render import shell_script

    compiled = compile_profile(_load(profile))
    print(compiled.to_json() if as_json else shell_script(compiled, netns), end="" if not as_json else "\n")


@app.command()
def apply(
    profile: Annotated[str, typer.Argument(help="catalog name or YAML path")],
    run: RunOption = DEFAULT_RUN,
    where: WhereOption = "auto",
) -> None:
    """Apply PROFILE on the censor of a run (bringing the run up if it is not), replacing
    any profile there. With --where auto, a profile this kernel cannot apply goes to a run
    in the testbed VM."""
    from testbed.compile.compiler import compile_profile
    from testbed.kernel import apply as engine
    from testbed.topology.model import state_path

    loaded = _load(profile)
    _need_root()
    _check_run_id(run)
    if _forward_to_vm(run, ["apply", _in_tree(loaded.source), "--run", run]):
        return
    if not state_path(run).exists():
        if _where(where, loaded) == "vm":
            _start_vm_run(run)
            _forward_to_vm(run, ["apply", _in_tree(loaded.source), "--run", run])
            return
        up(run=run)
    elif where == "vm" or _where(where, loaded) == "vm":
        raise InputError.single(f"run {run} is up on this host, whose kernel cannot apply "
                                f"{loaded.profile.name}; `testbed down --run {run}` and apply again "
                                "(the run then comes up in the testbed VM)")
    state = _state(run)
    compiled = compile_profile(loaded, _target(state))
    result = engine.apply(compiled, state.censor.netns)
    state.profile = loaded.profile.name
    state.save()
    verb = "applied" if result.changed else "already applied"
    out.print(f"{verb}: {compiled.profile} on run {run} "
              f"({len(compiled.interfaces)} interfaces, "
              f"{sum(len(c.rules) for c in compiled.nft.chains)} nft rules; read back and verified)")


def _forward_to_vm(run: str, args: list[str]) -> bool:
    """If `run` lives in the testbed VM, run this testbed command there (exits with its code)."""
    if os.environ.get("TESTBED_IN_VM"):
        return False
    from testbed.vm.session import VMSession

    session = VMSession.find(run)
    if session is None:
        return False
    code = session.run(["python3", "-m", "testbed.cli", *args])
    if args[0] == "down":
        session.stop()
    raise typer.Exit(code)


def _start_vm_run(run: str, up_args: list[str] | None = None) -> None:
    from testbed.vm.session import VMSession

    session = VMSession.start(run, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    code = session.run(["python3", "-m", "testbed.cli", "up", "--run", run, *(up_args or [])])
    if code != 0:
        session.stop()
        raise typer.Exit(code)


@app.command(name="try")
def try_(
    profile: Annotated[str, typer.Argument(help="catalog name or YAML path")],
    seconds: Annotated[float, typer.Option(help="length of each measurement")] = 4,
    port: Annotated[int, typer.Option(help="server port of the TCP flows")] = 443,
    voip_port: Annotated[int, typer.Option(help="UDP port of the call (1400: in Telegram's "
                                                "reflector range)")] = 1400,
    callee_address: Annotated[str | None, typer.Option(
        help="the callee's IPv4 address, e.g. inside a range the profile matches")] = None,
    where: WhereOption = "auto",
) -> None:
    """Measure traffic across a fresh topology before and after applying PROFILE."""
    from pydantic import ValidationError

    from testbed.scenario.trial import address_hint, run_trial
    from testbed.topology.model import HostSpec

    loaded = _load(profile)
    if callee_address is not None:
        try:
            HostSpec(name="callee", address=callee_address)
        except ValidationError as exc:
            raise InputError.single(f"--callee-address: {exc.errors()[0]['msg']}") from None
    _need_root()
    if _where(where, loaded) == "vm":
        _rerun_in_vm(["try", _in_tree(loaded.source), "--seconds", str(seconds), "--port", str(port),
                      "--voip-port", str(voip_port)]
                     + (["--callee-address", callee_address] if callee_address else []))
    hint = address_hint(loaded) if callee_address is None else None
    if hint:
        err.print(f"[yellow]note:[/yellow] {hint}")
    results = run_trial(loaded, seconds, port, voip_port, progress=lambda m: err.print(f"[dim]{m}[/dim]"),
                        callee_address=callee_address)
    title = f"{loaded.profile.name}: {loaded.profile.title}"
    table = Table("traffic", "clean path", "under the profile", title=title)
    for m in results:
        table.add_row(m.name, m.baseline, m.treated)
    out.print(table)


@app.command(name="run")
def run_(
    scenario: Annotated[str, typer.Argument(help="scenario YAML path or name in scenarios/")],
    results: Annotated[Path, typer.Option("--results", help="where results directories go")] = Path(
        "results"),
    where: WhereOption = "auto",
) -> None:
    """Run a scenario: phases, workloads, expectations. Exit 0 when every expectation holds,
    1 when any fails, 2 for bad input."""
    from testbed.kernel import probe
    from testbed.scenario.loader import load_scenario, resolve_scenario_path
    from testbed.scenario.runner import run_scenario

    loaded = load_scenario(resolve_scenario_path(scenario))
    _need_root()
    if where not in ("auto", "local", "vm"):
        raise InputError.single(f"--where {where!r}: use auto, local or vm")
    if where == "auto" and not os.environ.get("TESTBED_IN_VM"):
        from testbed.compile.compiler import compile_profile

        needed = {f for p in loaded.profiles.values() for f in compile_profile(p).features}
        missing = probe.missing_features(tuple(sorted(needed)))
        if missing:
            err.print(f"[dim]this kernel lacks {', '.join(missing)}: running in the testbed VM[/dim]")
            where = "vm"
    if where == "vm" and not os.environ.get("TESTBED_IN_VM"):
        _rerun_in_vm(["run", _in_tree(loaded.source), "--results", _in_tree(results.absolute())])
    try:
        result = run_scenario(loaded, results, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    except KeyboardInterrupt:
        err.print("interrupted: the topology was removed; results are marked incomplete")
        raise typer.Exit(130) from None
    table = Table("phase", "expectation", "measured", "result", title=f"{loaded.scenario.name}: "
                  f"{loaded.scenario.title}")
    for check in result.checks:
        value = "n/a" if check.value is None else f"{check.value:.3g}"
        table.add_row(check.phase, check.check, value, "pass" if check.passed else "FAIL")
    out.print(table)
    out.print(f"results: {result.directory}")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def report(directory: Annotated[Path, typer.Argument(help="a results directory of testbed run")]) -> None:
    """Render a results directory again: PNG plots and a self-contained report.html."""
    from testbed.report.render import ReportError, render

    try:
        path = render(directory)
    except ReportError as exc:
        raise InputError.single(str(exc)) from None
    out.print(f"report: {path}")


@app.command()
def compare(
    before: Annotated[Path, typer.Argument(help="results directory A")],
    after: Annotated[Path, typer.Argument(help="results directory B")],
) -> None:
    """What changed between two runs: every shared metric, and every expectation's verdict."""
    from testbed.report.compare import compare as compare_runs
    from testbed.report.compare import verdicts
    from testbed.report.render import ReportError

    try:
        changes = compare_runs(before, after)
        a, b = verdicts(before), verdicts(after)
    except (ReportError, FileNotFoundError) as exc:
        raise InputError.single(str(exc)) from None
    title = f"A = {before.name}, B = {after.name}"
    table = Table("phase", "workload", "metric", "A", "B", "change", title=title)
    for c in changes:
        table.add_row(c.phase, c.workload, c.metric, f"{c.before:.3g}", f"{c.after:.3g}", f"{c.delta:+.3g}")
    out.print(table)
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            word = {True: "pass", False: "FAIL", None: "-"}
            out.print(f"expectation {key[1]} in {key[0]}: {word[a.get(key)]} -> {word[b.get(key)]}")


@app.command()
def matrix(
    profiles: Annotated[list[str], typer.Argument(help="profiles (catalog names or paths)")],
    codec: Annotated[list[str], typer.Option(help="codec(s); repeat the option for more")] = ["g711"],  # noqa: B006
    seconds: Annotated[float, typer.Option(help="length of each call")] = 10,
    port: Annotated[int, typer.Option(help="UDP port of the calls")] = 1400,
    parallel: Annotated[int | None, typer.Option(help="cells at once, each in its own topology "
                                                      "(default: one per two cores)")] = None,
    results: Annotated[Path, typer.Option("--results")] = Path("results"),
    where: WhereOption = "auto",
) -> None:
    """Every profile x codec side by side against a clean path: one table, one chart."""
    from testbed.kernel import probe
    from testbed.measure.emodel import CODECS
    from testbed.scenario.matrix import run_matrix

    bad = [c for c in codec if c not in CODECS]
    if bad:
        raise InputError.single(f"--codec {bad[0]!r}: use one of {', '.join(CODECS)}")
    loaded = [_load(p) for p in profiles]
    _need_root()
    parallel = parallel or max(1, (os.cpu_count() or 2) // 2)  # each cell's two sides want a core
    if where == "auto" and not os.environ.get("TESTBED_IN_VM"):
        from testbed.compile.compiler import compile_profile

        needed = {f for p in loaded for f in compile_profile(p).features}
        where = "vm" if probe.missing_features(tuple(sorted(needed))) else "local"
    if where == "vm" and not os.environ.get("TESTBED_IN_VM"):
        args = ["matrix", *[_in_tree(p.source) for p in loaded], "--seconds", str(seconds), "--port",
                str(port), "--parallel", str(parallel), "--results", _in_tree(results.absolute())]
        for c in codec:
            args += ["--codec", c]
        _rerun_in_vm(args)
    cells, directory = run_matrix([None, *loaded], codec, seconds, port, results, parallel,
                                  progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    table = Table("profile", "codec", "MOS-CQ", "loss %", "jitter ms", "chat")
    for c in cells:
        table.add_row(c.profile, c.codec, f"{c.mos_cq:.2f}", f"{c.loss:.1f}", f"{c.jitter_ms:.1f}",
                      f"{100 * c.chat_delivered:.0f} %" if not c.error else c.error[:40])
    out.print(table)
    out.print(f"results: {directory}/matrix.json, {directory}/matrix.png")


@app.command()
def calls(
    profile: Annotated[str | None, typer.Argument(help="profile to apply (catalog name or path); "
                                                       "none: a clean path")] = None,
    codec: Annotated[str, typer.Option(help="g711, g711-noplc, g729, opus-webrtc, opus-telegram")] = "g711",
    count: Annotated[int, typer.Option("--calls", help="concurrent bidirectional calls")] = 1,
    seconds: Annotated[float, typer.Option(help="length of the calls")] = 10,
    port: Annotated[int, typer.Option(help="UDP port of the media (both ends)")] = 40000,
    stun: Annotated[bool, typer.Option(help="frame media in STUN (cookie 0x2112A442), as WhatsApp")] = False,
    reflector: Annotated[bool, typer.Option(help="frame media as Telegram's reflectors (peer tag, "
                                                 "12 bytes of 0xFF)")] = False,
    dtx: Annotated[bool, typer.Option(help="silence suppression (ITU-T P.59 talkspurts)")] = False,
    results: Annotated[Path, typer.Option("--out", help="directory for traces.npz and metrics.json")] = Path(
        "results/calls"),
    where: WhereOption = "auto",
) -> None:
    """VoIP-like calls across a fresh topology (under PROFILE if given): loss, bursts, delay,
    jitter, jitter-buffer discards, R and MOS per call direction."""
    from testbed.measure.emodel import CODECS
    from testbed.scenario.callrun import run_call_experiment

    if codec not in CODECS:
        raise InputError.single(f"--codec {codec!r}: use one of {', '.join(CODECS)}")
    if count < 1 or seconds <= 0:
        raise InputError.single("--calls must be at least 1 and --seconds above 0")
    if stun and reflector:
        raise InputError.single("--stun and --reflector: choose one framing")
    framing = "stun" if stun else "reflector" if reflector else "rtp"
    loaded = _load(profile) if profile else None
    _need_root()
    if loaded is not None and _where(where, loaded) == "vm":
        args = ["calls", _in_tree(loaded.source), "--codec", codec, "--calls", str(count), "--seconds",
                str(seconds), "--port", str(port), "--out", _in_tree(results.absolute()),
                "--stun" if stun else "--no-stun", "--reflector" if reflector else "--no-reflector",
                "--dtx" if dtx else "--no-dtx"]
        _rerun_in_vm(args)
    metrics = run_call_experiment(loaded, codec, count, seconds, port, framing, dtx, results,
                                  progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    title = f"{codec} calls" + (f" under {loaded.profile.name}" if loaded else " on a clean path")
    table = Table("call", "dir", "loss%", "BurstR", "delay", "jitter", "JB%", "MOS-LQ", "MOS-CQ", title=title,
                  caption="delay and jitter (RFC 3550) in ms; JB%: late packets the jitter buffer dropped")
    for m in metrics:
        table.add_row(str(m.call), "up" if m.direction == "uplink" else "down",
                      f"{m.network_loss.loss_percent:.1f}", f"{m.network_loss.burst_r:.2f}",
                      f"{m.delay.mean_ms:.1f}", f"{m.jitter_ms:.1f}", f"{m.adaptive_discard_percent:.1f}",
                      f"{m.quality.mos_lq:.2f}", f"{m.quality.mos_cq:.2f}")
    out.print(table)
    out.print(f"traces and metrics: {results}/traces.npz, {results}/metrics.json")


def _where(where: str, loaded) -> str:
    """Where a command runs: here, or in the VM when this kernel lacks a needed feature."""
    from testbed.compile.compiler import compile_profile
    from testbed.kernel import probe

    if where not in ("auto", "local", "vm"):
        raise InputError.single(f"--where {where!r}: use auto, local or vm")
    if where != "auto" or os.environ.get("TESTBED_IN_VM"):
        return "local" if where == "auto" else where
    missing = probe.missing_features(compile_profile(loaded).features)
    if missing:
        err.print(f"[dim]this kernel lacks {', '.join(missing)}: running in the testbed VM[/dim]")
        return "vm"
    return "local"


def _in_tree(path: Path) -> str:
    from testbed.vm.image import ROOT

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        raise InputError.single(f"{path} is outside the project tree {ROOT}, which is all the VM sees; "
                                "copy it into the tree") from None


def _rerun_in_vm(args: list[str]) -> None:
    """Run this same testbed command inside the VM and exit with its exit code."""
    from testbed.vm import image, qemu

    image.build(progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    raise typer.Exit(qemu.run(["python3", "-m", "testbed.cli", *args, "--where", "local"],
                              cwd=image.ROOT))


def _target(state):
    from testbed.compile.compiler import Target

    return Target(state.devices("outside"), state.devices("inside"))


@app.command()
def clear(run: RunOption = DEFAULT_RUN) -> None:
    """Remove the applied profile: the censor's interfaces return to their defaults."""
    from testbed.compile.compiler import Target
    from testbed.kernel import apply as engine

    _need_root()
    _check_run_id(run)
    _forward_to_vm(run, ["clear", "--run", run])
    state = _state(run)
    target: Target = _target(state)
    engine.clear_devices(state.censor.netns, [*target.uplink_devices, *target.downlink_devices],
                         target.table)
    state.profile = None
    state.save()
    out.print(f"cleared run {run}")


# --- topology -----------------------------------------------------------------------------------


@app.command()
def up(
    run: RunOption = DEFAULT_RUN,
    backend: Annotated[str, typer.Option(help="netns (default) or mininet")] = "netns",
    inside: Annotated[str, typer.Option(help="hosts on the inside, comma-separated")] = "caller",
    outside: Annotated[str, typer.Option(help="hosts on the outside, comma-separated; name=ADDRESS[/LEN] "
                                              "gives one its own IPv4 address")] = "callee",
    rate: Annotated[str | None, typer.Option(help="base link rate on each host, e.g. 100mbit")] = None,
    delay: Annotated[str | None, typer.Option(help="base link delay on each host, e.g. 10ms")] = None,
    where: Annotated[str, typer.Option(help="local (this kernel) or vm (a testbed VM kept up for "
                                            "the run)")] = "local",
) -> None:
    """Build the topology: inside hosts -- censor -- outside hosts."""
    from pydantic import ValidationError

    from testbed.topology import build
    from testbed.topology.model import TopologySpec, state_path
    from testbed.vm.session import VMSession

    _need_root()
    _check_run_id(run)
    if where not in ("local", "vm", "auto"):
        raise InputError.single(f"--where {where!r}: use local or vm")
    if VMSession.find(run) or state_path(run).exists():
        raise InputError.single(f"run {run!r} is already up; `testbed down --run {run}` first")
    if where == "vm" and not os.environ.get("TESTBED_IN_VM"):
        args = ["--backend", backend, "--inside", inside, "--outside", outside]
        args += [a for k, v in (("--rate", rate), ("--delay", delay)) if v for a in (k, v)]
        _start_vm_run(run, args)
        out.print(f"run {run} is up in the testbed VM; apply, exec, clear and down reach it there")
        return
    link = {k: v for k, v in (("rate", rate), ("delay", delay)) if v}
    try:
        spec = TopologySpec(backend=backend, inside=inside.split(","), outside=outside.split(","),
                            link=link or None)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError.single(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    _check_run_id(run)
    state = build.up(spec, run, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    table = Table("node", "namespace", "interfaces")
    for node in state.nodes.values():
        table.add_row(node.name, node.netns,
                      ", ".join(f"{i.name} {i.ipv4} {i.ipv6}" for i in node.interfaces))
    out.print(table)
    out.print(f"run {run} is up ({spec.backend}); try: testbed exec caller -- ping -c1 "
              f"{state.nodes[spec.outside[0].name].address()}")


def _check_run_id(run: str) -> None:
    import re

    from testbed.topology.model import RUN_ID_PATTERN

    if not re.fullmatch(RUN_ID_PATTERN, run):
        raise InputError.single(f"--run {run!r}: use 1-8 lower case letters or digits")


@app.command()
def down(run: RunOption = DEFAULT_RUN) -> None:
    """Tear a run's topology down (its namespaces and everything in them)."""
    from testbed.topology import build

    _need_root()
    _check_run_id(run)
    _forward_to_vm(run, ["down", "--run", run])
    removed = build.down(run)
    out.print(f"removed {len(removed)} namespaces of run {run}" if removed else f"run {run} was not up")


@app.command(name="exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="node name: caller, censor, callee, ...")],
    run: RunOption = DEFAULT_RUN,
) -> None:
    """Run a program inside NODE:  testbed exec caller -- ping -c3 198.19.0.2"""
    _need_root()
    _check_run_id(run)
    argv = ctx.args[1:] if ctx.args[:1] == ["--"] else list(ctx.args)
    if not argv:
        raise InputError.single("give a command after --, e.g. testbed exec caller -- ip addr")
    _forward_to_vm(run, ["exec", node, "--run", run, "--", *argv])
    state = _state(run)
    if node not in state.nodes:
        raise InputError.single(f"no node {node!r} in run {run}; nodes: {', '.join(state.nodes)}")
    os.execvp("ip", ["ip", "netns", "exec", state.node(node).netns, *argv])


@app.command()
def clean() -> None:
    """Remove everything any run created (namespaces, interfaces, state), also after kill -9."""
    from testbed.topology import build
    from testbed.vm import qemu

    _need_root()
    removed = build.clean() + [f"VM process {pid}" for pid in qemu.stop_all()]
    for item in removed:
        out.print(f"removed {item}")
    out.print(f"clean: {len(removed)} objects removed")


@app.command()
def status() -> None:
    """Runs that are up, and the profile applied on each."""
    from testbed.topology import build
    from testbed.topology.model import TopologyState
    from testbed.vm.session import sessions

    table = Table("run", "where", "backend", "hosts", "profile")
    for run in build.running():
        state = TopologyState.load(run)
        hosts = len(state.nodes) - 1
        table.add_row(run, "vm" if os.environ.get("TESTBED_IN_VM") else "local", state.backend, str(hosts),
                      state.profile or "-")
    out.print(table)
    if not os.environ.get("TESTBED_IN_VM"):
        from testbed.vm.session import VMSession

        for run in sessions():
            out.print(f"run {run} lives in a testbed VM:")
            session = VMSession.find(run)
            if session is not None:
                session.run(["python3", "-m", "testbed.cli", "status"])


@vm_app.command("build")
def vm_build(force: Annotated[bool, typer.Option(help="rebuild even if cached")] = False) -> None:
    """Build the VM image (Debian bookworm, stock kernel), or reuse the cached one."""
    import time

    from testbed.vm import image

    started = time.monotonic()
    built = image.build(progress=lambda m: err.print(f"[dim]{m}[/dim]"), force=force)
    out.print(f"VM image ready: {built.directory} ({time.monotonic() - started:.1f} s)")


@vm_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def vm_run(
    ctx: typer.Context,
    timeout: Annotated[float | None, typer.Option(help="stop the VM after this many seconds")] = None,
) -> None:
    """Run a command as root in the VM, in the project tree:  testbed vm run -- tc qdisc show"""
    from testbed.vm import image, qemu

    argv = ctx.args[1:] if ctx.args[:1] == ["--"] else list(ctx.args)
    if not argv:
        raise InputError.single("give a command after --, e.g. testbed vm run -- uname -r")
    _need_root()
    image.build(progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    raise typer.Exit(qemu.run(argv, timeout=timeout))


@vm_app.command("shell")
def vm_shell() -> None:
    """An interactive root shell in the VM (poweroff -f, or Ctrl-A X, to leave)."""
    from testbed.vm import image, qemu

    _need_root()
    image.build(progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    raise typer.Exit(qemu.shell())


def main() -> None:
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except InputError as exc:
        _print_problems(exc)
        sys.exit(2)
    except KernelFeatureMissing as exc:
        print(f"missing: {exc}", file=sys.stderr)
        sys.exit(3)
    except _vm_errors() as exc:
        print(f"VM: {exc}", file=sys.stderr)
        sys.exit(3)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted; `testbed clean` removes anything left behind")
        sys.exit(130)
    except Exception as exc:  # a clear sentence, not a trace; TESTBED_DEBUG=1 shows it
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click's usage errors
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("TESTBED_DEBUG"):
            raise
        err.print(f"error: {type(exc).__name__}: {exc}", markup=False)
        err.print("(set TESTBED_DEBUG=1 for the traceback)", markup=False)
        sys.exit(1)


def _vm_errors() -> tuple[type[Exception], ...]:
    from testbed.vm.image import ImageBuildError
    from testbed.vm.qemu import VMError

    return (ImageBuildError, VMError)


def _print_problems(exc: InputError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)  # one unwrapped line each: file:line: field: message


if __name__ == "__main__":
    main()
