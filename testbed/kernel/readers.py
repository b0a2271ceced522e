"""The reader process and its queue rules on a censor node: started, checked, read, stopped.

One reader per censor (namespace) and nft table, in /run/testbed/readers/NS.TABLE/: its
spec, its pid and start time, what it wrote (testbed/classify/reader.py). It is started
before the rules that feed it, in its own session, so that a profile applied by
`testbed apply` outlives the command; clearing the profile stops it, and `testbed clean`
ends it with its namespace (remove_netns() kills every process in one).

How packets reach it depends on the kernel: nft's `queue` statement in the profile's own
table where the kernel has it, else the xt NFQUEUE target through iptables, in a mangle
chain named after the table (the one exception to "one nft table per run").
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from testbed.compile.plan import NftPlan, Plan, ReaderPlan
from testbed.compile.reading import reader_chain, reader_spec
from testbed.errors import EnvironmentFailure, ProgramMissing
from testbed.kernel import netns
from testbed.kernel.process import alive, start_time

READERS_DIR = Path("/run/testbed/readers")
START_TIMEOUT_S = 60.0  # a cold Python in the emulated (TCG) VM takes seconds to import
STOP_GRACE_S = 3.0
QUEUE_PROBE = ("table inet tb_queue_probe {\n\tchain c {\n\t\ttype filter hook forward priority -150;\n"
               "\t\tqueue num 0 bypass\n\t}\n}\n")


class ReaderFailed(EnvironmentFailure):
    """The reader did not start, or died: exit 4 with its reason, whatever `fail` says."""


def directory(ns: str | None, table: str) -> Path:
    return READERS_DIR / f"{ns or 'host'}.{table}"


@functools.cache
def queue_form() -> str:
    """'nft' when nft's queue statement loads here (checked, not loaded), else 'iptables'."""
    result = netns.run(None, ["nft", "-c", "-f", "-"], stdin=QUEUE_PROBE, check=False)
    if result.returncode == 0:
        return "nft"
    if shutil.which("iptables") is None:
        raise ProgramMissing("iptables", "iptables", "this kernel has no nft `queue` statement "
                             "(CONFIG_NFT_QUEUE), so the reader's queue needs the xt NFQUEUE target")
    return "iptables"


def installed_nft(plan: Plan) -> NftPlan:
    """The nft table as loaded: with the reader's queue chain where nft carries it."""
    if plan.reader is None or queue_form() != "nft":
        return plan.nft
    return dataclasses.replace(plan.nft, chains=(*plan.nft.chains, plan.reader.queue_chain))


def owner_record(ns: str | None, table: str) -> dict | None:
    try:
        return json.loads((directory(ns, table) / "pid.json").read_text())
    except (OSError, ValueError):
        return None


def running(ns: str | None, table: str, reader: ReaderPlan | None = None) -> bool:
    """A reader runs for this censor and table (serving `reader`'s spec, when given)."""
    record = owner_record(ns, table)
    if record is None or not alive(record.get("pid"), record.get("started")):
        return False
    return reader is None or record.get("spec") == reader_spec(reader)


def failure(ns: str | None, table: str) -> str | None:
    """Why a reader that was started is not running (None while it runs, or if none was)."""
    record = owner_record(ns, table)
    if record is None or alive(record.get("pid"), record.get("started")):
        return None
    log = directory(ns, table) / "stderr.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    return "the reader process ended" + (": " + " | ".join(tail) if tail else " (no message)")


def start(reader: ReaderPlan, ns: str | None, table: str) -> None:
    """Start the reader (stopping another one of this censor and table first) and wait until
    it has bound its queue."""
    if running(ns, table, reader):
        return
    stop(ns, table)
    where = directory(ns, table)
    made = where / MADE_TABLES  # what iptables made for an earlier reader here goes with this one
    kept = made.read_text() if made.exists() else None
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    if kept is not None:
        made.write_text(kept)
    (where / "spec.json").write_text(json.dumps(reader_spec(reader), indent=1))
    argv = [sys.executable, "-m", "testbed.classify.reader", str(where / "spec.json"), str(where)]
    with (where / "stderr.log").open("w") as errors:
        proc = subprocess.Popen(netns.command(ns, argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errors, start_new_session=True)
    # `ip netns exec` execs the program: this pid is the reader's
    (where / "pid.json").write_text(json.dumps({"pid": proc.pid, "started": start_time(proc.pid),
                                                "spec": reader_spec(reader)}))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (where / "ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise ReaderFailed(f"the reader did not start: {failure(ns, table) or 'no answer'}")
        time.sleep(0.02)


def stop(ns: str | None, table: str) -> bool:
    """End the reader of this censor and table; whether one was running."""
    record = owner_record(ns, table)
    if record is None or not alive(record.get("pid"), record.get("started")):
        return False
    pid = record["pid"]
    for sig, grace in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while alive(pid, record.get("started")) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not alive(pid, record.get("started")):
            break
    return True


def forget(namespace: str) -> list[Path]:
    """End the readers of a namespace that is going or gone (one whose namespace was deleted
    under it would keep it alive) and remove their files; what was removed."""
    found = sorted(READERS_DIR.glob(f"{namespace}.*")) if READERS_DIR.exists() else []
    for where in found:
        stop(namespace, where.name.split(".", 1)[1])
        shutil.rmtree(where, ignore_errors=True)
    return found


def retire(ns: str | None, table: str) -> bool:
    """The reader of a table whose profile no longer reads (cleared, or replaced by one that
    does not): its iptables chain removed and the process ended; its record stays to be read.
    Whether one was started here (no iptables call otherwise)."""
    if not directory(ns, table).exists():
        return False
    remove_xt_rules(table, ns)
    stop(ns, table)
    return True


def discard(ns: str | None, table: str) -> bool:
    """The reader of a table that is going for good (a gateway taken down): retired and its
    files gone; whether there was one."""
    if not retire(ns, table):
        return False
    shutil.rmtree(directory(ns, table), ignore_errors=True)
    return True


def summary(ns: str | None, table: str) -> dict | None:
    try:
        return json.loads((directory(ns, table) / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def decisions(ns: str | None, table: str) -> list[dict]:
    path = directory(ns, table) / "decisions.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # the last line of a reader killed mid-write
    return out


# --- the xt form: iptables rules in a chain of the table's name ------------------------------

_FAMILIES = ("iptables", "ip6tables")


def _xt(ns: str | None, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return netns.run(ns, argv, check=check)


_NFT_FAMILY = {"iptables": "ip", "ip6tables": "ip6"}
MADE_TABLES = "made-tables.json"  # the mangle tables iptables made for the reader: removed with it


def _has_mangle(ns: str | None, program: str) -> bool:
    listed = netns.run(ns, ["nft", "list", "table", _NFT_FAMILY[program], "mangle"], check=False)
    return listed.returncode == 0


def add_xt_rules(reader: ReaderPlan, ns: str | None, table: str) -> None:
    chain = reader.iptables_chain
    made = [program for program in _FAMILIES if not _has_mangle(ns, program)]
    if made:
        (directory(ns, table) / MADE_TABLES).write_text(json.dumps(made))
    for program in _FAMILIES:
        if _xt(ns, [program, "-t", "mangle", "-N", chain], check=False).returncode != 0:
            _xt(ns, [program, "-t", "mangle", "-F", chain])
        for rule in reader.iptables:
            _xt(ns, [program, *rule])
        jump = ["-t", "mangle", "-C", "FORWARD", "-j", chain]
        if _xt(ns, [program, *jump], check=False).returncode != 0:
            _xt(ns, [program, "-t", "mangle", "-I", "FORWARD", "-j", chain])


def remove_xt_rules(table: str, ns: str | None) -> None:
    """The reader's chain and its jump gone; and the mangle table too, where iptables made it
    for the reader and nothing else has put a rule in it since (a gateway leaves the machine
    as it found it)."""
    if shutil.which("iptables") is None:
        return
    chain = reader_chain(table)
    for program in _FAMILIES:
        while _xt(ns, [program, "-t", "mangle", "-D", "FORWARD", "-j", chain], check=False).returncode == 0:
            pass
        _xt(ns, [program, "-t", "mangle", "-F", chain], check=False)
        _xt(ns, [program, "-t", "mangle", "-X", chain], check=False)
    try:
        made = json.loads((directory(ns, table) / MADE_TABLES).read_text())
    except (OSError, ValueError):
        return
    for family in (_NFT_FAMILY[p] for p in made if p in _NFT_FAMILY) if isinstance(made, list) else ():
        listed = netns.run(ns, ["nft", "-j", "list", "table", family, "mangle"], check=False)
        if listed.returncode == 0 and '"rule"' not in listed.stdout:
            netns.run(ns, ["nft", "delete", "table", family, "mangle"], check=False)
    (directory(ns, table) / MADE_TABLES).unlink(missing_ok=True)


def xt_rule_count(chain: str, ns: str | None, program: str = "iptables") -> int | None:
    result = _xt(ns, [program, "-t", "mangle", "-S", chain], check=False)
    if result.returncode != 0:
        return None
    return sum(1 for line in result.stdout.splitlines() if line.startswith("-A "))


def differences(plan: Plan, ns: str | None) -> list[str]:
    """What of the reader's part is not as `plan` says."""
    reader = plan.reader
    if reader is None:
        return []
    diffs = []
    if not running(ns, plan.nft.table, reader):
        why = failure(ns, plan.nft.table)
        diffs.append("the reader is not running" + (f" ({why})" if why else ""))
    if queue_form() == "iptables":
        for program in _FAMILIES:
            count = xt_rule_count(reader.iptables_chain, ns, program)
            if count != len(reader.iptables):
                diffs.append(f"{program} chain {reader.iptables_chain}: {count} rules, expected "
                             f"{len(reader.iptables)}")
    return diffs
