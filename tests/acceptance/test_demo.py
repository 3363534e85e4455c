"""`syndicate demo` as an operator runs it: every adapter, on loopback, nothing set up.

The demo runs once (``--keep DIR``) and the tests read what it left: the
ledger, the SFTP inbox folders, the mail files, the LED feeds, and its output.
"""

from __future__ import annotations

import email
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest
from wcwidth import wcswidth

from syndicate import Syndicator
from syndicate.store import open_store
from syndicate.store.base import AttemptFilter, DeliveryRow, DeliveryState, Outcome

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
NOTICES = ROOT / "examples" / "notices"
HTTP_CHANNELS = ("trading-website", "city-portal", "land-market")
SFTP_CHANNELS = {
    "nanfang-daily": ("nanfang-daily/gonggao", "docx"),
    "heyuan-daily": ("heyuan-daily/ggzy", "html"),
}
NEWSPAPERS = ("nanfang-daily", "heyuan-daily", "heyuan-evening")
SCREENS = {"hall": (64, 4, 20), "gate": (32, 2, 10)}  # columns, lines, max items


def run_demo(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
    full_env.pop("SYNDICATE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "syndicate", "demo", "--notices", str(NOTICES), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Demo:
    """One finished demo run and what it left behind."""

    result: subprocess.CompletedProcess[str]
    folder: Path
    rows: list[DeliveryRow]
    attempts: list[Any]
    notices: dict[str, dict[str, Any]]  # by "<id>.v<version>"

    def delivered_to(self, channel: str) -> list[DeliveryRow]:
        return [r for r in self.rows if r.channel == channel]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    cwd = tmp_path_factory.mktemp("elsewhere")
    folder = tmp_path_factory.mktemp("kept") / "demo"
    result = run_demo("--keep", str(folder), cwd=cwd)
    store = open_store(f"sqlite:///{folder / 'ledger.db'}")
    try:
        rows = list(store.deliveries())
        attempts = list(store.attempts(AttemptFilter()))
    finally:
        store.close()
    notices = {}
    for path in NOTICES.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        notices[f"{data['id']}.v{data['version']}"] = data
    return Demo(result, folder, rows, attempts, notices)


def test_demo_exits_0_with_every_delivery_delivered(demo: Demo) -> None:
    out = demo.result.stdout
    assert demo.result.returncode == 0, out + demo.result.stderr
    assert demo.result.stderr == ""
    assert "Traceback" not in out
    assert "refused:" not in out
    assert demo.rows, "the ledger holds no deliveries"
    assert {r.state for r in demo.rows} == {DeliveryState.delivered}
    assert {f"{r.notice_id}.v{r.notice_version}" for r in demo.rows} == set(demo.notices)
    assert f"{len(demo.rows)} of {len(demo.rows)} deliveries delivered" in out
    assert "0 notices refused" in out


def test_every_channel_is_used_and_routes_hold(demo: Demo) -> None:
    channels = {r.channel for r in demo.rows}
    assert channels == {*HTTP_CHANNELS, *SFTP_CHANNELS, "heyuan-evening", "led-screens"}
    for key, data in demo.notices.items():
        routed = {r.channel for r in demo.rows if f"{r.notice_id}.v{r.notice_version}" == key}
        assert {"trading-website", "led-screens"} <= routed, key
        assert ("land-market" in routed) == (
            data["category"] == "land_mineral"
            and data["notice_type"] in ("transfer", "result", "deal")
        ), key
        newspaper = data["category"] != "work_news" and data["notice_type"] in (
            "tender",
            "transfer",
        )
        assert all((ch in routed) == newspaper for ch in NEWSPAPERS), key
        assert ("city-portal" in routed) == (data["region_code"] in ("441600", "441602")), key


def test_output_shows_where_each_delivery_landed(demo: Demo) -> None:
    out = demo.result.stdout
    assert "where each delivery landed" in out
    landing_lines = out.split("where each delivery landed", 1)[1].split("demo artefacts", 1)[0]
    for r in demo.rows:
        where = r.remote_url or r.remote_id
        assert where, r
        line = next(
            (
                ln
                for ln in landing_lines.splitlines()
                if f"{r.notice_id}.v{r.notice_version} " in ln
                # A take-down is marked beside its channel, the publication is not.
                and (
                    f" {r.channel} " in ln and "·" not in ln
                    if r.purpose == "publish"
                    else f" {r.channel} · {r.purpose} " in ln
                )
            ),
            None,
        )
        assert line is not None, (r.notice_id, r.channel, r.purpose)
        assert where in line
        if r.channel in HTTP_CHANNELS:
            assert where.startswith("http://127.0.0.1:")
        elif r.channel in SFTP_CHANNELS:
            assert where.startswith("sftp://127.0.0.1:")
        elif r.channel == "heyuan-evening":
            assert where == f"<{r.idempotency_key}@ggzy.heyuan.example.cn>"
        else:
            assert where == (demo.folder / "led" / "hall.xml").as_uri()


def test_output_says_why_notices_were_taken_down_at_once(demo: Demo) -> None:
    # The example notices keep their dates; once their valid_until has passed, a screen
    # takes each down right after showing it, and the demo says so instead of leaving an
    # emptied feed file to puzzle over.
    expired = [r for r in demo.rows if r.purpose == "expiry"]
    now = datetime.now(UTC)
    past = {
        key
        for key, data in demo.notices.items()
        if "valid_until" in data and datetime.fromisoformat(data["valid_until"]) < now
    }
    assert {f"{r.notice_id}.v{r.notice_version}" for r in expired} == past
    if past:
        channels = ", ".join(sorted({r.channel for r in expired}))
        assert (
            f"{len(past)} example notices are past their valid_until, so {channels} took each "
            "one down again right after showing it (the rows marked · expiry)"
        ) in demo.result.stdout
    else:
        assert "past their valid_until" not in demo.result.stdout


def test_http_channels_answer_and_city_portal_shows_a_retry(demo: Demo) -> None:
    for channel in HTTP_CHANNELS:
        rows = demo.delivered_to(channel)
        assert rows, channel
        ids = {urlsplit(r.remote_url or "").path for r in rows}
        assert len(ids) == len(rows), "each delivery got its own id"
    failed = [a for a in demo.attempts if a.outcome is not Outcome.delivered]
    assert [(a.channel, a.number, a.status) for a in failed] == [("city-portal", 1, "503")]
    retried = next(r for r in demo.rows if r.channel == "city-portal" and r.attempts == 2)
    assert (
        f"attempt 1 of {retried.notice_id}.v{retried.notice_version} → city-portal did not land"
        in demo.result.stdout
    )
    assert "HTTP 503" in demo.result.stdout


def test_sftp_inboxes_hold_each_notice_with_a_matching_manifest(demo: Demo) -> None:
    for channel, (directory, fmt) in SFTP_CHANNELS.items():
        inbox = demo.folder / "sftp" / directory
        rows = demo.delivered_to(channel)
        assert rows
        manifests = sorted(inbox.glob("*.manifest.json"))
        assert len(manifests) == len(rows)
        assert not [p for p in inbox.iterdir() if p.name.startswith(".")], "temp files left behind"
        for r in rows:
            url = urlsplit(r.remote_url or "")
            assert url.path == f"/{directory}/{r.notice_id}.v{r.notice_version}.{fmt}"
            main = demo.folder / "sftp" / url.path.lstrip("/")
            manifest = json.loads(
                (inbox / f"{r.notice_id}.v{r.notice_version}.manifest.json").read_text("utf-8")
            )
            assert manifest["idempotency_key"] == r.idempotency_key
            assert manifest["format"] == fmt
            listed = {f["name"]: f for f in manifest["files"]}
            assert main.name in listed
            for name, entry in listed.items():
                content = (inbox / name).read_bytes()
                assert len(content) == entry["size"]
                assert hashlib.sha256(content).hexdigest() == entry["sha256"]
            notice = demo.notices[f"{r.notice_id}.v{r.notice_version}"]
            local = [a for a in notice.get("attachments", []) if a.get("path")]
            assert sum(f["role"] == "attachment" for f in manifest["files"]) == len(local)
            if fmt == "docx":
                assert zipfile.is_zipfile(main)
                with zipfile.ZipFile(main) as z:
                    assert notice["title"] in z.read("word/document.xml").decode("utf-8")
            else:
                assert notice["title"] in main.read_text("utf-8")


def test_mail_inbox_holds_one_message_per_delivery(demo: Demo) -> None:
    rows = demo.delivered_to("heyuan-evening")
    assert rows
    files = sorted((demo.folder / "mail").glob("*.eml"))
    assert len(files) == len(rows)
    by_id: dict[str, EmailMessage] = {}
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        by_id[str(message["Message-ID"])] = message
        assert path.name in demo.result.stdout
    for r in rows:
        message = by_id[r.remote_id or ""]
        assert message["X-Syndicate-Notice"] == f"{r.notice_id}; version={r.notice_version}"
        assert message["To"] == "tougao@hywb.example.cn"
        notice = demo.notices[f"{r.notice_id}.v{r.notice_version}"]
        local = [a["name"] for a in notice.get("attachments", []) if a.get("path")]
        assert sorted(str(p.get_filename()) for p in message.iter_attachments()) == sorted(local)


def _live(data: dict[str, Any], now: datetime) -> bool:
    until = data.get("valid_until")
    return until is None or datetime.fromisoformat(until) > now


def test_led_feeds_parse_and_fit_their_screens(demo: Demo) -> None:
    now = datetime.now(UTC)
    newest: dict[str, int] = {}
    for r in demo.delivered_to("led-screens"):
        newest[r.notice_id] = max(newest.get(r.notice_id, 0), r.notice_version)
    live = {
        f"{nid}.v{v}.led-screens"
        for nid, v in newest.items()
        if _live(demo.notices[f"{nid}.v{v}"], now)
    }
    feeds = {"hall": ["hall.xml"], "gate": ["gate.xml", "gate.atom"]}
    for screen, names in feeds.items():
        columns, lines, max_items = SCREENS[screen]
        for name in names:
            path = demo.folder / "led" / name
            assert path.name in demo.result.stdout
            parsed = feedparser.parse(path.read_bytes())
            assert not parsed.bozo, (name, parsed.get("bozo_exception"))
            ids = {e.id.removeprefix("urn:syndicate:") for e in parsed.entries}
            assert ids <= live
            assert len(ids) == min(len(live), max_items)
            for entry in parsed.entries:
                text = entry.description if name.endswith(".xml") else entry.content[0].value
                shown = text.split("\n")
                assert 1 <= len(shown) <= lines
                assert all(wcswidth(line) <= columns for line in shown), shown
    assert b"encoding='GBK'" in (demo.folder / "led" / "hall.xml").read_bytes()[:100]


def test_artefacts_are_listed(demo: Demo) -> None:
    out = demo.result.stdout
    assert f"demo artefacts in {demo.folder}" in out
    for channel, (directory, _) in SFTP_CHANNELS.items():
        count = len(demo.delivered_to(channel))
        assert f"{count} manifests" in out
        assert f"sftp/{directory}/" in out
    assert "ledger.db" in out
    assert f"kept in {demo.folder}" in out


def test_the_kept_folder_can_be_read_with_the_cli_after_the_demo(
    demo: Demo, tmp_path: Path
) -> None:
    # The channels.yaml the demo ran with is left beside its ledger, every value filled in:
    # the commands an operator tries next work on it from anywhere, with no environment,
    # even once the folder has moved.
    config = demo.folder / "channels.yaml"
    assert f"syndicate -c {config} status" in demo.result.stdout
    assert "${" not in config.read_text("utf-8")
    moved = tmp_path / "moved"
    shutil.copytree(demo.folder, moved)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEMO_", "SYNDICATE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(moved / "channels.yaml"), "status", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert "HYJS-2026-0318" in json.dumps(listed, ensure_ascii=False)


def test_every_demo_notice_audits_as_the_same_content_everywhere(demo: Demo) -> None:
    # 招标投标法实施条例 §15: every medium carries the same content. Rendered again from what
    # the channels were given, each payload is the one sent and carries every key fact.
    with Syndicator.from_config(demo.folder / "channels.yaml") as s:
        for key in sorted(demo.notices):
            notice_id, version = key.rsplit(".v", 1)
            audit = s.audit(notice_id, int(version))
            assert audit.channels, key
            for c in audit.channels:
                assert c.payload_sha256 == c.rendered_sha256, (key, c.channel, c.notes)
                assert c.differences == [], (key, c.channel)
            assert audit.consistent, key


def test_demo_without_keep_removes_its_folder(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run_demo(cwd=tmp_path, env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "where each delivery landed" in result.stdout
    # Files about to be removed are not listed as something to look at.
    assert "demo artefacts" not in result.stdout
    assert "manifests" not in result.stdout
    assert "--keep DIR keeps them" in result.stdout
    assert list(scratch.iterdir()) == []


def test_keep_refuses_a_folder_with_an_earlier_run(demo: Demo, tmp_path: Path) -> None:
    before = sorted(p.name for p in demo.folder.iterdir())
    result = run_demo("--keep", str(demo.folder), cwd=tmp_path)
    assert result.returncode == 1
    assert f"--keep {demo.folder}: give a new or empty folder" in result.stdout
    assert sorted(p.name for p in demo.folder.iterdir()) == before


def test_demo_serve_runs_the_api_over_the_demo_channels(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "demo", "--serve", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        token = None
        for line in proc.stdout:  # the demo's report, then the serving lines
            if "token (admin" in line:
                token = line.split(":", 1)[1].strip()
                break
        assert token is not None
        assert token.startswith("syn_")
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/notices", headers=headers)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.1)
        assert answer.status_code == 200
        ids = {n["id"] for n in answer.json()["items"]}
        assert "HYJS-2026-0318" in ids  # the demo's notices, in the ledger it serves
        assert httpx.get(f"http://127.0.0.1:{port}/v1/notices").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
