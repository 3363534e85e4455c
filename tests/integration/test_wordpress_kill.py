"""SIGKILL the worker while it publishes to real WordPress: no post is made twice, none is lost.

The run lives in scripts/wordpress_kill_test.py (200 notices and 5 kills from
the command line); the suite runs a smaller one against the session's site.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.peers.wordpress import WordPress

pytestmark = [pytest.mark.integration, pytest.mark.long]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "wordpress_kill_test.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wordpress_kill_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("wordpress_kill_test", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_sigkills_while_publishing_leave_one_post_per_notice(
    wordpress: WordPress, tmp_path: Path
) -> None:
    kill = _load()

    report = kill.run(60, 3, seed=20261201, folder=tmp_path / "run", wp=wordpress)

    assert report.failures == [], "\n".join(report.lines() + report.failures)
    assert report.posts == 60
    assert sum(report.held_at_kill) > 0
