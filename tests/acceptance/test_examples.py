"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]


def test_upstream_client_example_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "upstream_client.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "accepted: HYJS-2026-0318.v1 → trading-website"
    assert "already accepted: HYJS-2026-0318.v1" in lines
    assert "  region_code: must be a six-digit region code (行政区划代码), e.g. 441600" in lines
    assert lines[-1].startswith(
        "HYJS-2026-0318.v1 → trading-website: delivered at http://127.0.0.1:"
    )
