"""The `censored_network` fixture as a user's test suite meets it: registered by installing
the package (pytest11), a network with the user's hosts, and a skip that says why and what to
do when the network cannot be built (not root; a kernel without netem for a netem profile)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.kernel import probe
from tests.cli import NOBODY, ROOT

USERS_TEST = """
def test_hosts_and_a_profile(censored_network):
    net = censored_network({profile!r}, inside=["phone"], outside=["server"])
    assert net["phone"].run(["ping", "-c1", "-W2", net["server"].ipv4]).returncode == 0
    assert net.profile == {name!r}
"""


USERS_TLS_TEST = """
import subprocess, time
from testbed.traffic.certificates import make_certificates

def test_only_approved_names_get_an_answer(censored_network, tmp_path):
    net = censored_network({profile!r}, inside=["phone"], outside=["server"])
    made = make_certificates(tmp_path, ["ya.ru", "example.org"])
    server = ["openssl", "s_server", "-accept", "443", "-cert", str(made.certificate), "-key", str(made.key),
              "-www", "-quiet"]
    with net["server"].popen(server):
        time.sleep(1)
        for name, code in (("ya.ru", "200"), ("example.org", "000")):
            curl = ["curl", "-s", "--cacert", str(made.authority), "--resolve", f"{{name}}:443:{{net['server'].ipv4}}",
                    f"https://{{name}}/", "-o", "/dev/null", "-w", "%{{http_code}}", "--max-time", "3"]
            assert net["phone"].run(curl).stdout == code, name
    decided = sorted((d["read"]["tls_sni"], d["matched"]) for d in net.decisions())
    # the test is the list's (the class drops what is *not* on it): ya.ru holds it, example.org not
    assert decided == [("example.org", []), ("ya.ru", ["tls_sni of unlisted"])], decided
"""


def _pytest(test: Path, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [*(NOBODY if as_nobody else []), sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
            str(test)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=test.parent)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder a user without root reads too (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="testbed-users-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _users_test(folder: Path, profile: str) -> Path:
    test = folder / f"test_{profile.replace('-', '_')}.py"
    test.write_text(USERS_TEST.format(profile=str(ROOT / "profiles" / f"{profile}.yaml"), name=profile))
    test.chmod(0o644)
    return test


def test_the_fixture_builds_the_users_network_with_a_profile_nft_alone_needs(folder: Path) -> None:
    result = _pytest(_users_test(folder, "ru-2021-twitter-throttle-by-address"))
    assert "1 passed" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_fixture_skips_saying_why_and_how_to_run_in_the_vm(folder: Path) -> None:
    netem = not probe.missing_features(("sch_netem",))
    result = _pytest(_users_test(folder, "ru-2025-calls-degraded"))
    if netem:  # a kernel with netem builds it
        assert "1 passed" in result.stdout, result.stdout[-2000:]
    else:
        assert "1 skipped" in result.stdout and "this kernel lacks sch_netem" in result.stdout, result.stdout
        assert "testbed vm run -- python3 -m pytest PATH" in result.stdout
    as_nobody = _pytest(_users_test(folder, "ru-2021-twitter-throttle-by-address"), as_nobody=True)
    assert "1 skipped" in as_nobody.stdout and "needs root" in as_nobody.stdout, as_nobody.stdout[-2000:]


def test_the_fixture_runs_a_profile_that_reads_and_tells_what_its_reader_decided(folder: Path) -> None:
    """A user's own TLS server and client (openssl s_server, curl) under the SNI whitelist."""
    test = folder / "test_whitelist.py"
    test.write_text(USERS_TLS_TEST.format(profile=str(ROOT / "profiles" / "ru-2025-mobile-whitelist-sni.yaml")))
    test.chmod(0o644)
    result = _pytest(test)
    assert "1 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]
