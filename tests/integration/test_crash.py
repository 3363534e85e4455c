"""SIGKILL the worker at random moments, many times: every delivery still ends once, the ledger holds.

The run itself lives in scripts/crash_test.py (which also runs longer from the
command line); this test runs it at the size the issue names and fails on
every check the script reports.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.long]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "crash_test.py"
NOTICES = 2000
KILLS = 20


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("crash_test", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    crash = _load()

    report = crash.run(NOTICES, KILLS, seed=20261126, folder=tmp_path / "run", max_wait=400)

    assert report.failures == [], f"seed {report.seed}: " + "\n".join(report.failures)
    assert report.deliveries == {"delivered": NOTICES * len(crash.CHANNELS)}
    # The kills did land mid-delivery: the receivers saw requests the ledger never heard back.
    assert report.kills_during_delivery >= KILLS // 2
    assert sum(report.repeated_keys.values()) > 0
    assert report.repeated_keys.get(crash.FORGETFUL, 0) <= KILLS
