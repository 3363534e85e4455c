"""`syndicate rules`: the statutory rules and the mode the operator's file sets for each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from syndicate.rules import rule_table
from tests.readme_channels import write_ssh_secrets

ROOT = Path(__file__).resolve().parents[2]


def syndicate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        env={**env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_shipped_file_enforces_every_rule(tmp_path: Path) -> None:
    # The repository's channels.yaml beside its key files, none of its secrets in the environment.
    (tmp_path / "channels.yaml").write_text((ROOT / "channels.yaml").read_text("utf-8"), "utf-8")
    write_ssh_secrets(tmp_path / "secrets", ["nanfang_ed25519"])
    result = syndicate("rules", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for rule in rule_table().rules:
        line = next(line for line in lines if line.startswith(rule.id + " "))
        assert " enforce " in line
        assert rule.citation in line
        assert ("(unverified)" in line) == (not rule.verified)
    assert any("must go to channel land-market" in line for line in lines)


def test_json_and_the_defaults_of_a_file_that_names_no_rule(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text(
        "channels:\n  site: {adapter: cms_http, url: 'http://127.0.0.1:9/n'}\n"
        "routes:\n  - channels: [site]\n",
        encoding="utf-8",
    )
    result = syndicate("rules", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["zb-tender-period"]["mode"] == "warn"
    assert rows["zb-tender-period"]["clock"] == "doc_sale_start → submission_deadline ≥ 20 日"
    assert rows["land-notice-on-land-market"]["mode"] == "off"
    assert rows["sp-disclosure-period"]["verified"] is False


def test_a_mistake_in_the_rules_section_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "channels.yaml").write_text(
        "channels:\n  site: {adapter: cms_http, url: 'http://127.0.0.1:9/n'}\n"
        "rules:\n  zb-tender-period: always\n",
        encoding="utf-8",
    )
    result = syndicate("rules", cwd=tmp_path)
    assert result.returncode == 3
    assert "channels.yaml:4: rules.zb-tender-period: must be enforce, warn, off" in result.stderr
    assert "Traceback" not in result.stderr
