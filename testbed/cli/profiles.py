"""`testbed profiles ...` (the catalog) and `testbed docs` (the generated documentation)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from testbed.cli.common import json_option, load_profile_arg
from testbed.cli.output import Output
from testbed.errors import CheckFailed, InputError


@click.group("profiles", short_help="The profile catalog.")
def profiles() -> None:
    """The profile catalog: list, show, validate, schema."""


def _runs_here(features: tuple[str, ...]) -> str:
    """Whether this kernel has what a profile needs (probing needs root)."""
    if os.geteuid() != 0:
        return "?"
    from testbed.kernel import probe

    missing = probe.missing_features(features)
    return "this kernel" if not missing else f"testbed VM (no {', '.join(missing)} here)"


@profiles.command("list")
@json_option
def list_(as_json: bool) -> None:
    """The catalog: name, confidence, title, where it runs and the last signature result."""
    from testbed.compile.compiler import compile_profile
    from testbed.profile.loader import catalog, load_profile
    from testbed.report.catalog import MEASURED

    measured = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
    items = []
    for path in catalog():
        try:
            loaded = load_profile(path)
        except InputError as exc:
            items.append({"name": path.stem, "error": str(exc.problems[0])})
            continue
        p = loaded.profile
        record = measured.get(p.name)
        signature = None if record is None else {"passed": record["passed"], "date": record["date"]}
        items.append({"name": p.name, "confidence": p.confidence, "title": p.title,
                      "runs_on": _runs_here(compile_profile(loaded).features), "signature": signature})
    out = Output(as_json)
    if as_json:
        out.json(items)
        return
    def verdict(item: dict) -> str:
        found = item.get("signature")
        return "-" if not found else f"{'passed' if found['passed'] else 'FAILED'} {found['date']}"

    rows = [[i["name"], i.get("confidence", "INVALID"), i.get("title", i.get("error", "")),
             i.get("runs_on", ""), verdict(i)] for i in items]
    out.table(["name", "confidence", "title", "runs on", "signature"], rows,
              caption="signature: the last measured run (docs/signatures.json); `testbed run NAME` runs it"
              + ("; runs on: ? (run as root to probe this kernel)" if os.geteuid() != 0 else ""))


@profiles.command("show")
@click.argument("profile")
@json_option
def show(profile: str, as_json: bool) -> None:
    """A profile's description, sources and classes (PROFILE: a catalog name or a YAML path)."""
    from testbed.report.describe import describe_action
    from testbed.scenario.loader import signature_path

    loaded = load_profile_arg(profile)
    p = loaded.profile
    signature = signature_path(p.name)
    classes = [{"name": c.name, "description": c.description or "",
                "uplink": describe_action(c.for_direction("uplink")),
                "downlink": describe_action(c.for_direction("downlink"))} for c in p.classes]
    data = {"name": p.name, "title": p.title, "confidence": p.confidence,
            "description": p.description.strip(), "provenance": p.provenance, "classes": classes,
            "file": str(loaded.source), "sha256": loaded.sha256,
            "signature": str(signature) if signature.exists() else None}
    out = Output(as_json)
    if as_json:
        out.json(data)
        return
    out.line(f"{p.name}: {p.title}  ({p.confidence})")
    if data["description"]:
        out.line(data["description"])
    for source in p.provenance:
        out.line(f"  source: {source}")
    out.table(["class", "picks out", "uplink (inside -> outside)", "downlink (outside -> inside)"],
              [[c["name"], c["description"], c["uplink"], c["downlink"]] for c in classes])
    if data["signature"]:
        out.line(f"signature: {data['signature']} (testbed run {p.name})")
    out.line(f"file: {loaded.source}   sha256: {loaded.sha256[:16]}")


@profiles.command("validate")
@click.argument("profiles", nargs=-1)
def validate(profiles: tuple[str, ...]) -> None:
    """Check profiles (catalog names or YAML files; none: the whole catalog). Every problem is
    printed with its file, line and field."""
    from testbed.compile.compiler import compile_profile
    from testbed.profile.loader import catalog, load_profile, resolve_profile_path

    problems = []
    for name in profiles or [str(p) for p in catalog()]:
        try:
            path = resolve_profile_path(name)
            compile_profile(load_profile(path))
            click.echo(f"{path}: ok")
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)


@profiles.command("schema")
def schema() -> None:
    """The JSON Schema of the profile language, for editors."""
    from testbed.profile.schema import profile_json_schema

    click.echo(json.dumps(profile_json_schema(), indent=2))


@click.command("docs", short_help="Write the generated docs.")
@click.option("--measured", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A directory of signature results (TESTBED_SIGNATURES_OUT) to merge first.")
@click.option("--check", is_flag=True,
              help="Only say whether the generated docs are current (exit 1 if not).")
def docs(measured: Path | None, check: bool) -> None:
    """Write the generated docs: docs/profiles.md and docs/metrics.md."""
    from testbed.report.catalog import merge_measured
    from testbed.scenario import docs as generated

    if check:
        stale = generated.stale()
        if stale:
            raise CheckFailed(f"out of date: {', '.join(str(p) for p in stale)}; run `testbed docs`")
        click.echo("the generated docs are up to date")
        return
    if measured is not None:
        names = merge_measured(measured)
        Output().note(f"merged the measured signatures of {len(names)} profiles")
    for path in generated.write():
        click.echo(f"wrote {path}")


profiles.add_command(docs)  # `testbed profiles docs`, as before
COMMANDS = [profiles, docs]
