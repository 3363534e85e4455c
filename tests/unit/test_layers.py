"""Adapters reach into the engine's modules, never through the package face."""

from __future__ import annotations

import ast
from pathlib import Path

import syndicate
from syndicate.__version__ import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_adapters_do_not_import_the_package_face() -> None:
    offenders = []
    for path in sorted((ROOT / "adapters").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "syndicate":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Import) and any(a.name == "syndicate" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == [], "import from syndicate.<module> instead"


def test_the_version_lives_in_a_leaf_module() -> None:
    source = (ROOT / "src" / "syndicate" / "__version__.py").read_text(encoding="utf-8")
    assert len(ast.parse(source).body) == 1  # nothing to import, nothing to load
    assert syndicate.__version__ == __version__
