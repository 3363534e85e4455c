"""The CLI as an operator runs it: a subprocess, its output and its exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate.demo.http_sink import HttpSink, Reply
from tests.conftest import closed_port
from tests.peers.postgres import on_backend

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]


def syndicate(
    *args: str, cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("SYNDICATE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.fixture
def site(tmp_path: Path, sink: HttpSink, ledger_url: str) -> Iterator[Path]:
    """A center's folder, its ledger on SQLite and, in a second run, on PostgreSQL."""
    config = f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 5s}}
defaults:
  retry: {{max_attempts: 2, initial_delay: 20ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {sink.url}/site
    auth: {{type: bearer, token: "${{CMS_TOKEN}}"}}
    allow_insecure_transport: true
  city-portal:
    adapter: cms_http
    url: {sink.url}/portal
routes:
  - channels: [trading-website]
  - match: {{category: [construction]}}
    channels: [city-portal]
"""
    (tmp_path / "channels.yaml").write_text(on_backend(config, ledger_url), encoding="utf-8")
    return tmp_path


ENV = {"CMS_TOKEN": "very-secret-token-4711"}


def notice(make: Any, i: int, **fields: Any) -> str:
    return json.dumps(make(id=f"HYZB-2026-{i:04d}", **fields), ensure_ascii=False)


def test_help_explains_every_command(tmp_path: Path) -> None:
    result = syndicate("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in [
        "check",
        "enqueue",
        "run",
        "status",
        "log",
        "replay",
        "schema",
        "preview",
        "demo",
    ]:
        assert command in result.stdout
    assert "Exit codes" in result.stdout


def test_a_config_with_no_routes_says_where_notices_would_go(
    tmp_path: Path, make_notice: Any
) -> None:
    # A first channels.yaml often has channels and no routes: check says what that means,
    # and the notice it then refuses says where the fix goes.
    (tmp_path / "channels.yaml").write_text(
        "version: 1\nstore: {url: ledger.db}\nchannels:\n"
        "  screens:\n    adapter: led_feed\n    screens:\n"
        "      - {name: hall, columns: 64, lines: 4, path: {rss: led/hall.xml},\n"
        "         link: 'https://ggzy.example.cn/'}\n",
        encoding="utf-8",
    )
    checked = syndicate("check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 routes" in checked.stdout
    assert "note: no routes, so a notice is refused unless it lists its own channels" in (
        checked.stdout
    )
    (tmp_path / "n.json").write_text(notice(make_notice, 1), encoding="utf-8")
    refused = syndicate("enqueue", "n.json", cwd=tmp_path)
    no_traceback(refused)
    assert refused.returncode == 1
    assert "channels.yaml has no routes: add one under routes:" in refused.stdout + refused.stderr


def test_check_exit_codes(site: Path) -> None:
    ok = syndicate("check", cwd=site, env=ENV)
    assert ok.returncode == 0, ok.stderr
    assert "2 channels, 2 routes" in ok.stdout
    missing = syndicate("check", cwd=site)
    assert missing.returncode == 1
    assert (
        "channels.yaml:10: channels.trading-website.auth.token: environment variable CMS_TOKEN is not set"
        in missing.stdout
    )
    no_traceback(missing)
    (site / "bad.yaml").write_text("channels:\n  x: {adapter: nope}\n  y: {adapter: cms_http}\n")
    bad = syndicate("check", "bad.yaml", cwd=site)
    assert bad.returncode == 1
    assert "bad.yaml:2: channels.x.adapter: unknown adapter 'nope'" in bad.stdout
    assert "bad.yaml:3: channels.y.url: Field required" in bad.stdout
    no_traceback(bad)


def test_enqueue_run_status_log(site: Path, sink: HttpSink, make_notice: Any) -> None:
    notices = site / "notices"
    notices.mkdir()
    for i in range(3):
        (notices / f"n{i}.json").write_text(notice(make_notice, i), encoding="utf-8")
    news = make_notice(id="NEWS-1", category="work_news", notice_type="news", project_code=None)
    news.pop("construction")
    (notices / "news.json").write_text(json.dumps(news, ensure_ascii=False), encoding="utf-8")
    (notices / "broken.json").write_text('{"id": "x", "region_code": "12"}', encoding="utf-8")

    result = syndicate("enqueue", "notices", cwd=site, env=ENV)
    assert result.returncode == 1  # one refused
    assert "accepted         HYZB-2026-0000.v1 → trading-website, city-portal" in result.stdout
    assert "accepted         NEWS-1.v1 → trading-website" in result.stdout
    assert "refused: notices/broken.json: region_code:" in result.stderr
    assert "4 accepted, 1 refused" in result.stderr
    no_traceback(result)

    again = syndicate("enqueue", "notices/n0.json", cwd=site, env=ENV)
    assert again.returncode == 0
    assert "already accepted" in again.stdout

    sink.script("/portal", [Reply(503)])
    run = syndicate("run", "--once", cwd=site, env=ENV)
    assert run.returncode == 0, run.stderr
    assert "delivered HYZB-2026-0000.v1 → trading-website" in run.stdout

    # --once leaves the scheduled retry for the next run
    time.sleep(0.1)
    run2 = syndicate("run", "--once", cwd=site, env=ENV)
    assert run2.returncode == 0

    status = syndicate("status", "--json", cwd=site, env=ENV)
    assert status.returncode == 0
    data = json.loads(status.stdout)
    states = {
        (n["id"], ch): cell["state"] for n in data["notices"] for ch, cell in n["channels"].items()
    }
    assert states == {
        ("HYZB-2026-0000", "trading-website"): "delivered",
        ("HYZB-2026-0000", "city-portal"): "delivered",
        ("HYZB-2026-0001", "trading-website"): "delivered",
        ("HYZB-2026-0001", "city-portal"): "delivered",
        ("HYZB-2026-0002", "trading-website"): "delivered",
        ("HYZB-2026-0002", "city-portal"): "delivered",
        ("NEWS-1", "trading-website"): "delivered",
    }
    assert data["counts"] == {"trading-website": {"delivered": 4}, "city-portal": {"delivered": 3}}

    table = syndicate("status", cwd=site, env=ENV)
    assert table.returncode == 0
    assert "HYZB-2026-0001.v1" in table.stdout

    log = syndicate("log", "--json", "--channel", "city-portal", cwd=site, env=ENV)
    lines = [json.loads(line) for line in log.stdout.splitlines()]
    assert len(lines) == 4  # 3 delivered + 1 transient 503
    assert [x["outcome"] for x in lines].count("transient") == 1
    assert all(x["channel"] == "city-portal" for x in lines)
    assert all(len(x["payload_sha256"]) == 64 for x in lines)
    failed = syndicate("log", "--json", "--status", "transient", cwd=site, env=ENV)
    (one,) = [json.loads(line) for line in failed.stdout.splitlines()]
    assert one["status"] == "503"
    # The secret the channel authenticates with is nowhere in what the tool prints.
    for out in (run.stdout, run.stderr, status.stdout, log.stdout, table.stdout):
        assert ENV["CMS_TOKEN"] not in out


def test_replay_puts_failed_deliveries_back(site: Path, sink: HttpSink, make_notice: Any) -> None:
    sink.script("/site", [Reply(422, body=b'{"error": "missing field"}')])
    syndicate("enqueue", "-", cwd=site, env=ENV, stdin=notice(make_notice, 7).encode())
    run = syndicate("run", "--once", cwd=site, env=ENV)
    assert "failed HYZB-2026-0007.v1 → trading-website" in run.stdout
    nothing = syndicate("replay", "--channel", "city-portal", cwd=site, env=ENV)
    assert nothing.returncode == 1
    usage = syndicate("replay", cwd=site, env=ENV)
    assert usage.returncode == 2
    assert "--notice ID, --channel NAME or --all" in usage.stderr
    dry = syndicate("replay", "--notice", "HYZB-2026-0007", "--dry-run", cwd=site, env=ENV)
    assert "1 deliveries would go back to pending" in dry.stdout
    replay = syndicate("replay", "--notice", "HYZB-2026-0007", cwd=site, env=ENV)
    assert replay.returncode == 0
    assert "1 deliveries back to pending" in replay.stdout
    syndicate("run", "--once", cwd=site, env=ENV)
    log = syndicate(
        "log",
        "--json",
        "--notice",
        "HYZB-2026-0007",
        "--channel",
        "trading-website",
        cwd=site,
        env=ENV,
    )
    outcomes = [json.loads(line)["outcome"] for line in log.stdout.splitlines()]
    assert outcomes == ["permanent", "delivered"]  # history kept


def test_schema_is_json_schema(tmp_path: Path) -> None:
    result = syndicate("schema", cwd=tmp_path)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "land_mineral" in json.dumps(schema)


def test_user_mistakes_get_one_line_never_a_traceback(
    site: Path, tmp_path: Path, ledger_url: str
) -> None:
    cases = [
        (("enqueue", "no-such-file.json"), ENV, 2, "no such file"),
        (("--config", "missing.yaml", "status"), ENV, 3, "missing.yaml: file not found"),
        (("run", "--once"), {}, 3, "CMS_TOKEN is not set"),
        (("log", "--since", "yesterday-ish"), ENV, 2, "--since"),
        (("preview", "nothing", "--channel", "city-portal"), ENV, 2, "neither a file nor a notice"),
    ]
    for args, env, code, text in cases:
        result = syndicate(*args, cwd=site, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert text in result.stderr, (args, result.stderr)
        no_traceback(result)
    if ledger_url == "ledger.db":
        (site / "ledger.db").write_text("this is not a database")
    else:  # a PostgreSQL ledger nobody answers for
        config = (site / "channels.yaml").read_text()
        nowhere = f"postgresql://postgres@127.0.0.1:{closed_port()}/ledger"
        (site / "channels.yaml").write_text(config.replace(ledger_url, nowhere))
    broken = syndicate("status", cwd=site, env=ENV)
    assert broken.returncode == 4
    assert "ledger" in broken.stderr
    no_traceback(broken)


def test_run_stops_cleanly_on_sigterm(site: Path, sink: HttpSink, make_notice: Any) -> None:
    sink.script("/site", [Reply(200, delay=1.0)])
    syndicate("enqueue", "-", cwd=site, env=ENV, stdin=notice(make_notice, 9).encode())
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "run"],
        cwd=site,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not sink.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sink.requests, "the worker never sent"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert "Traceback" not in err
    # The attempt in flight was allowed to finish and was recorded.
    status = syndicate(
        "log",
        "--json",
        "--notice",
        "HYZB-2026-0009",
        "--channel",
        "trading-website",
        cwd=site,
        env=ENV,
    )
    (attempt,) = [json.loads(line) for line in status.stdout.splitlines()]
    assert attempt["outcome"] == "delivered"


def test_demo_runs_with_nothing_set_up(tmp_path: Path) -> None:
    result = syndicate("demo", "--notices", str(ROOT / "examples" / "notices"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "where each delivery landed" in result.stdout
    assert "dead" not in result.stdout
    assert "failed" not in result.stdout


def run_until_delivered(site: Path) -> None:
    """`run --once` until nothing is pending: a retry falls due after the first run ends."""
    for _ in range(10):
        syndicate("run", "--once", cwd=site, env=ENV)
        status = json.loads(syndicate("status", "--json", cwd=site, env=ENV).stdout)
        if all(
            # a version superseded by the next one in the same batch is never sent
            cell["state"] in ("delivered", "superseded")
            for n in status["notices"]
            for cell in n["channels"].values()
        ):
            return
        time.sleep(0.2)
    log = syndicate("log", "--status", "transient", cwd=site, env=ENV)
    raise AssertionError(f"not everything was delivered:\n{log.stdout}")


def test_report_counts_a_year_by_category_and_channel(site: Path, sink: HttpSink) -> None:
    syndicate("enqueue", str(ROOT / "examples" / "notices"), cwd=site, env=ENV)
    run_until_delivered(site)
    result = syndicate("report", "--year", "2026", "--json", cwd=site, env=ENV)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["notices"] == {
        "construction": 3,
        "procurement": 3,
        "land_mineral": 2,
        "state_property": 1,
        "work_news": 1,
    }
    # HYJS-2026-0318.v1 is superseded by its correction, enqueued right after it
    assert data["delivered"]["construction"] == {"trading-website": 2, "city-portal": 2}
    assert data["delivered"]["land_mineral"] == {"trading-website": 2, "city-portal": 0}
    # The superseded v1 is no longer due on its two channels: nothing is owed.
    assert data["not_delivered"] == 0
    table = syndicate("report", "--year", "2026", cwd=site, env=ENV)
    assert "工程建设 construction" in table.stdout
    assert "published notices by category and channel" in table.stdout
    empty = syndicate("report", "--year", "2016", "--json", cwd=site, env=ENV)
    assert set(json.loads(empty.stdout)["notices"].values()) == {0}


def test_log_as_csv_and_metrics_for_dashboards(
    site: Path, sink: HttpSink, make_notice: Any, tmp_path: Path
) -> None:
    import csv
    import io

    # The retry waits long enough that this run cannot reach it, however slow the machine.
    sink.script("/portal", [Reply(503, headers={"Retry-After": "600"})])
    syndicate("enqueue", "-", cwd=site, env=ENV, stdin=notice(make_notice, 3).encode())
    syndicate("run", "--once", cwd=site, env=ENV)
    result = syndicate("log", "--csv", cwd=site, env=ENV)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    seen = {(r["channel"], r["outcome"], r["status"]) for r in rows}
    assert ("city-portal", "transient", "503") in seen
    assert ("trading-website", "delivered", "200") in seen
    assert all(r["started_at"].endswith("Z") for r in rows)
    both = syndicate("log", "--csv", "--json", cwd=site, env=ENV)
    assert both.returncode == 2

    target = tmp_path / "syndicate.prom"
    metrics = syndicate("metrics", "--output", str(target), cwd=site, env=ENV)
    assert metrics.returncode == 0, metrics.stderr
    text = target.read_text()
    assert 'syndicate_deliveries{channel="trading-website",state="delivered"} 1' in text
    assert 'syndicate_deliveries{channel="city-portal",state="pending"} 1' in text, text
    assert 'syndicate_circuit_open{channel="city-portal"} 0' in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_run_once_exits_5_when_a_delivery_ended_failed(
    site: Path, sink: HttpSink, make_notice: Any
) -> None:
    sink.script("/site", [Reply(422, body=b'{"error": "missing field"}')])
    syndicate("enqueue", "-", cwd=site, env=ENV, stdin=notice(make_notice, 8).encode())
    run = syndicate("run", "--once", cwd=site, env=ENV)
    assert run.returncode == 5, run.stderr
    assert "1 deliveries ended failed or dead" in run.stderr
    no_traceback(run)
    again = syndicate("run", "--once", cwd=site, env=ENV)  # nothing ended badly in this run
    assert again.returncode == 0, again.stderr


def test_read_only_commands_need_no_secrets_and_show_remote_ids(
    site: Path, sink: HttpSink, make_notice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CMS_TOKEN", raising=False)
    syndicate("enqueue", "-", cwd=site, env=ENV, stdin=notice(make_notice, 9).encode())
    run = syndicate("run", "--once", cwd=site, env=ENV)
    assert run.returncode == 0, run.stderr
    # The URL and, beside it, the id the channel gave the notice.
    assert f"{sink.url}/notices/n-" in run.stdout
    assert "(id n-" in run.stdout
    for command in ("status", "log", "report", "metrics"):
        result = syndicate(command, cwd=site)  # CMS_TOKEN is not set
        assert result.returncode == 0, (command, result.stderr)
        no_traceback(result)
    assert "(id n-" in syndicate("log", cwd=site).stdout
    refused = syndicate("run", "--once", cwd=site)
    assert refused.returncode == 3
    assert "environment variable CMS_TOKEN is not set" in refused.stderr


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)  # the store tests run both
def test_withdraw_says_what_it_did_and_refuses_twice(site: Path, make_notice: Any) -> None:
    path = site / "n.json"
    path.write_text(notice(make_notice, 7), encoding="utf-8")
    assert syndicate("enqueue", str(path), cwd=site, env=ENV).returncode == 0
    first = syndicate(
        "withdraw", "HYZB-2026-0007", "--reason", "招标人终止", "--by", "值班员", cwd=site, env=ENV
    )
    assert first.returncode == 0, first.stderr
    assert "withdrew HYZB-2026-0007 (up to version 1): " in first.stdout
    assert "pending deliveries cancelled" in first.stdout
    assert "no channel carries it: nothing to take down" in first.stdout
    again = syndicate("withdraw", "HYZB-2026-0007", "--reason", "x", cwd=site, env=ENV)
    assert again.returncode == 1
    assert "withdrawn already" in again.stderr + again.stdout
    no_traceback(again)
    unknown = syndicate("withdraw", "NOPE", "--reason", "x", cwd=site, env=ENV)
    assert unknown.returncode == 1
    assert "no notice NOPE" in unknown.stderr + unknown.stdout
