"""`syndicate check` against a corpus of malformed channels files: one located line per problem.

Each file in tests/corpus/config/ is checked the way an operator checks it,
from the file's own folder and with none of the secrets the files name in the
environment. Most run in-process through click's runner; the hostile ones (a
bomb, deep nesting, foreign tags, bad bytes) run as a real subprocess too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syndicate.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "config"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (CORPUS / "EXPECTED.yaml").read_text(encoding="utf-8")
)
SUBPROCESS = {
    "11_alias_bomb.yaml",
    "14_not_utf8.yaml",
    "22_python_tag_scalar.yaml",
    "23_python_tag_mapping.yaml",
    "32_nested_too_deeply.yaml",
    "36_python_tag_sequence.yaml",
}
# Set for every case, so only the file about a missing secret misses one.
ENV = {"HY_CMS_TOKEN": "corpus-token-0000"}
SECRET_NAMES = ("HY_CMS_TOKEN", "HY_CMS_TOKEN_NOT_SET", "SYNDICATE_CONFIG", "SYNDICATE_DEBUG")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_NAMES}
    return {**env, **ENV, "COLUMNS": "300"}


def check(name: str, folder: Path) -> tuple[int, str, str]:
    """Run ``syndicate check NAME`` in ``folder``: exit code, stdout, stderr."""
    if name in SUBPROCESS:
        done = subprocess.run(
            [sys.executable, "-m", "syndicate", "check", name],
            cwd=folder,
            env=_clean_env(),
            capture_output=True,
            timeout=120,
            check=False,
        )
        return (
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(main, ["check", name], env=_clean_env(), catch_exceptions=True)
    finally:
        os.chdir(cwd)
    text = result.stdout
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What a user would have seen: the exception escaping the command.
        text += f"\nTraceback (escaped): {result.exception!r}"
    return result.exit_code, text, result.stderr


def test_every_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.name != "EXPECTED.yaml"}
    assert files == set(EXPECTED)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_names_line_and_field_of_each_problem(name: str, tmp_path: Path) -> None:
    shutil.copyfile(CORPUS / name, tmp_path / name)
    case = EXPECTED[name]

    code, stdout, stderr = check(name, tmp_path)

    assert "Traceback" not in stdout + stderr
    assert code == 1, stdout + stderr
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert all(line.startswith(f"{name}:") for line in lines), stdout
    for expected in case["expect"]:
        assert any(line.startswith(f"{name}:") and expected in line for line in lines), (
            f"{expected!r} not in:\n{stdout}"
        )
    assert len(lines) == case["problems"], stdout
    noun = "problem" if case["problems"] == 1 else "problems"
    assert f"{name}: {case['problems']} {noun}" in stderr
    # A refused file starts nothing: no ledger, no side effect of a tag.
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_20_mb_file_is_refused_up_front(tmp_path: Path) -> None:
    """No channels file is megabytes long: refuse it before parsing, not after 20 s and 500 MB."""
    big = tmp_path / "huge.yaml"
    with big.open("w", encoding="utf-8") as f:
        f.write(
            "store: {url: ledger.db}\nchannels:\n  site:\n    adapter: cms_http\n"
            "    url: http://127.0.0.1:9/site\n    headers:\n"
        )
        i = 0
        while f.tell() < 20_000_000:
            f.write(f"      X-Header-{i}: {'v' * 40}\n")
            i += 1

    code, stdout, stderr = check(big.name, tmp_path)

    assert "Traceback" not in stdout + stderr
    assert code == 1
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    assert lines[0].startswith("huge.yaml"), stdout
    assert "too large" in lines[0], stdout
