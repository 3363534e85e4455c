"""`syndicate preview` shows exactly what a channel would receive, and sends nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.registry import AdapterRegistry
from tests.readme_channels import README, ROOT, SECRET, adapter_section, readme_configs

pytestmark = pytest.mark.acceptance

EXPECT = {
    "trading-website": ["Idempotency-Key: HYTD-2026-021.v1.trading-website", '"lanmu": "gcjs"'],
    "city-portal": ["application/x-www-form-urlencoded", "Idempotency-Key:"],
    "land-market": ['"parcel_no"', '"start_price"', "HYTD-2026-021"],
    "nanfang-daily": ["HYTD-2026-021.v1.docx", "HYTD-2026-021.v1.manifest.json"],
    "heyuan-daily": ["HYTD-2026-021.v1.txt", "sftp://"],
    "heyuan-evening": ["Message-ID: <HYTD-2026-021.v1.heyuan-evening@ggzy.heyuan.gov.cn>"],
    "led-screens": ["item HYTD-2026-021.v1.led-screens", "screen hall (64×4"],
}


def test_preview_every_channel_kind(tmp_path: Path, registry: AdapterRegistry) -> None:
    readme_configs(tmp_path, registry)  # writes the secrets and certificates the examples name
    blocks = re.findall(r"```yaml\n(.*?)```", adapter_section(), re.S)
    (tmp_path / "channels.yaml").write_text(
        f"store: {{url: ledger.db}}\nattachments: {{root: {ROOT}}}\nchannels:\n"
        + "".join(blocks)
        + "routes: []\n",
        "utf-8",
    )
    env = {name: SECRET for name in re.findall(r"\$\{([A-Z_]+)\}", README)}
    notice = ROOT / "examples" / "notices" / "land-transfer.json"
    for channel, expected in EXPECT.items():
        result = subprocess.run(
            [sys.executable, "-m", "syndicate", "preview", str(notice), "--channel", channel],
            cwd=tmp_path,
            env={**os.environ, **env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (channel, result.stderr)
        for text in expected:
            assert text in result.stdout, (channel, text, result.stdout[:2000])
        assert "payload sha256: " in result.stdout
        assert SECRET not in result.stdout + result.stderr
    # Nothing was sent: the ledger holds no delivery and no attempt.
    status = subprocess.run(
        [sys.executable, "-m", "syndicate", "status", "--json"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"notices": []' in status.stdout
