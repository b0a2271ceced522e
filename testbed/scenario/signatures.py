"""Signature scenarios: each catalog profile's own scenario (scenarios/signatures/NAME.yaml),
which runs the traffic the profile targets and checks what the technique does."""

from __future__ import annotations

from testbed.profile.loader import PROFILE_DIR, catalog
from testbed.report.catalog import SignatureDoc
from testbed.scenario.loader import load_scenario, signature_path


def signature_docs() -> dict[str, SignatureDoc]:
    """What docs/profiles.md says of each catalog profile's signature."""
    docs = {}
    for profile in catalog():
        path = signature_path(profile.stem)
        if path.exists():
            scenario = load_scenario(path).scenario
            docs[profile.stem] = SignatureDoc(str(path.relative_to(PROFILE_DIR.parent)), scenario.title,
                                              scenario.description,
                                              tuple((e.phase, e.check) for e in scenario.expect))
    return docs
