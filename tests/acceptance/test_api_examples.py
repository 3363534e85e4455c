"""The API's documented examples run as written: the README's curl commands, the HTTP client."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.tokens import Scope
from tests.api_server import ApiServer

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8000"


def service_blocks() -> list[str]:
    """The ``sh`` blocks of the README's Service section."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("\n## Service\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.fixture
def served(sink: HttpSink, write_config: Callable[[str], Path]) -> Iterator[tuple[str, str]]:
    config = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
channels:
  trading-website: {{adapter: cms_http, url: "{sink.url}/site"}}
  city-portal: {{adapter: cms_http, url: "{sink.url}/portal"}}
routes: [{{channels: [trading-website, city-portal]}}]
"""
    )
    with Syndicator.from_config(config) as engine:
        token = engine.tokens.create("e-tendering", [Scope.enqueue, Scope.read]).secret
        with ApiServer(engine, worker=True) as api:
            yield api.url, token


def run_block(block: str, url: str, token: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("curl"), "curl is needed (scripts/test installs it)"
    return subprocess.run(
        ["sh", "-c", block.replace(README_URL, url)],
        cwd=ROOT,
        env={**os.environ, "SYNDICATE_TOKEN": token, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_readme_curl_examples_work(served: tuple[str, str]) -> None:
    url, token = served
    enqueue, read = [b for b in service_blocks() if "curl" in b]
    done = run_block(enqueue, url, token)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "accepted"
    assert answer["channels"] == ["trading-website", "city-portal"]
    listed = run_block(read, url, token)
    assert listed.returncode == 0, listed.stderr
    pages = [json.loads(line) for line in listed.stdout.replace("}{", "}\n{").splitlines()]
    assert all("items" in page for page in pages)


def test_the_http_client_example_needs_only_the_standard_library(
    served: tuple[str, str],
) -> None:
    url, token = served
    done = subprocess.run(
        # -I -S: no site-packages, so nothing but the standard library can be imported.
        [sys.executable, "-I", "-S", "examples/upstream_client_http.py"],
        cwd=ROOT,
        env={**os.environ, "SYNDICATE_URL": url, "SYNDICATE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "201 accepted: HYJS-2026-0318.v1 → trading-website, city-portal"
    assert "200 already accepted: HYJS-2026-0318.v1" in lines
    assert "422 Unprocessable Entity:" in lines
    assert "  region_code: must be a six-digit region code (行政区划代码), e.g. 441600" in lines
    delivered = [line for line in lines if line.startswith("HYJS-2026-0318.v1 → ")]
    assert len(delivered) == 2
    assert all(": delivered http://127.0.0.1:" in line for line in delivered), delivered
