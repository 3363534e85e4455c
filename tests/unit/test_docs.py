"""The README is part of the product: every adapter documented, every example valid."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from syndicate.config import parse_config
from syndicate.registry import AdapterRegistry
from tests.peers.http import make_tls_files

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")


def adapter_section() -> str:
    start = README.index("## Adapters")
    return README[start : README.index("\n## ", start + 1)]


def test_every_registered_adapter_is_documented(registry: AdapterRegistry) -> None:
    section = adapter_section()
    for name in registry.names():
        assert f"### `{name}`" in section, f"adapter {name} has no section in the README"


def test_every_adapter_example_in_the_readme_is_valid(
    tmp_path: Path, registry: AdapterRegistry
) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", adapter_section(), re.S)
    assert len(blocks) >= 5
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    for name in ["nanfang_ed25519", "led_ed25519"]:
        (secrets / name).write_bytes(pem)
    (secrets / "known_hosts").write_text(f"ftp.heyuan.cn {public.decode()}\n")
    (secrets / "portal.token").write_text("token\n")
    tls = make_tls_files(tmp_path)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "heyuan-gov-ca.pem").write_bytes(tls.ca_file.read_bytes())
    env = {name: "secret" for name in re.findall(r"\$\{([A-Z_]+)\}", README)}
    seen = set()
    for block in blocks:
        text = "channels:\n" + block + "routes: []\n"
        config = parse_config(text, "README.md", registry, base_dir=tmp_path, env=env)
        seen |= {c.settings.adapter for c in config.channels.values()}
    assert seen == set(registry.names())
