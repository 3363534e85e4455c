"""syndicate approve and reject as an approver runs them: refusals in one line, nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator

from .test_cli import no_traceback, syndicate

pytestmark = pytest.mark.acceptance

CONFIG = """
store: {url: ledger.db}
channels:
  site: {adapter: cms_http, url: "http://127.0.0.1:9/notices", allow_insecure_transport: true}
routes:
  - channels: [site]
approvals:
  - steps: [科室负责人, 分管领导]
"""


def test_approve_with_the_digest_seen_refusing_another(tmp_path: Path, make_notice: Any) -> None:
    (tmp_path / "channels.yaml").write_text(CONFIG, encoding="utf-8")
    with Syndicator.from_config(tmp_path / "channels.yaml") as s:  # enqueue: see test_cli
        accepted = s.enqueue(make_notice())
    assert accepted.approval_steps == ("科室负责人", "分管领导")
    ask = [
        "approve",
        accepted.notice_id,
        "--version",
        "1",
        "--step",
        "科室负责人",
        "--by",
        "李科长",
    ]

    other = syndicate(*ask, "--digest", "0" * 64, cwd=tmp_path)
    assert other.returncode == 1
    assert other.stderr.startswith("refused: digest: HYZB-2026-0001.v1: the digest given")
    no_traceback(other)

    done = syndicate(*ask, "--digest", accepted.digest, "--comment", "同意", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "科室负责人 approved by 李科长; awaiting 分管领导"
