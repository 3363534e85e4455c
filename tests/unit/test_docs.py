"""The README is part of the product: every adapter documented, every example valid."""

from __future__ import annotations

from pathlib import Path

from syndicate.registry import AdapterRegistry
from tests.readme_channels import adapter_section, readme_configs


def test_every_registered_adapter_is_documented(registry: AdapterRegistry) -> None:
    section = adapter_section()
    for name in registry.names():
        assert f"### `{name}`" in section, f"adapter {name} has no section in the README"


def test_every_adapter_example_in_the_readme_is_valid(
    tmp_path: Path, registry: AdapterRegistry
) -> None:
    configs = readme_configs(tmp_path, registry)
    assert len(configs) >= 5
    kinds = {c.settings.adapter for config in configs for c in config.channels.values()}
    assert kinds == set(registry.names())
