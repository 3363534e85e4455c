"""Four workers and two API processes on one PostgreSQL ledger, killed at random, the server
restarted: nothing lost.

The run lives in scripts/scale_kill_test.py (10,000 notices and 20 kills from
the command line); this is its small version, failing on every check it reports.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.long]

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
NOTICES = 200
WORKERS = 4
APIS = 2
KILLS = 4


def _load() -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("scale_kill_test", SCRIPTS / "scale_kill_test.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scale_kill_test", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_many_workers_killed_and_a_server_restart_lose_nothing(tmp_path: Path) -> None:
    scale = _load()

    report = scale.run(
        NOTICES, WORKERS, KILLS, apis=APIS, seed=20261201, folder=tmp_path / "run", max_wait=400
    )

    assert report.failures == [], f"seed {report.seed}: " + "\n".join(report.failures)
    assert report.deliveries == {"delivered": NOTICES * 5}
    workers = {line for line in (tmp_path / "run").glob("worker-*.log")}
    assert len(workers) == WORKERS + KILLS  # every kill was followed by a fresh worker
    apis = {line for line in (tmp_path / "run").glob("api-*.log")}
    assert report.api_kills > 0
    assert len(apis) == APIS + report.api_kills  # and every API process killed came back
