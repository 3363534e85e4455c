"""The channels the README documents, built for real: what the docs and conformance tests use."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from syndicate.config import Config, parse_config
from syndicate.registry import AdapterRegistry
from tests.peers.http import make_tls_files

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")
SECRET = "readme-secret-9d3e"


def adapter_section() -> str:
    start = README.index("## Adapters")
    return README[start : README.index("\n## ", start + 1)]


def write_ssh_secrets(secrets: Path, key_names: list[str]) -> None:
    """A real private key under each name and a known_hosts file, in ``secrets``."""
    secrets.mkdir(exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    for name in key_names:
        (secrets / name).write_bytes(pem)
    (secrets / "known_hosts").write_text(f"ftp.heyuan.cn {public.decode()}\n")


def readme_configs(tmp_path: Path, registry: AdapterRegistry) -> list[Config]:
    """Each YAML example of the adapter guide as a validated config, secrets from tmp_path."""
    blocks = re.findall(r"```yaml\n(.*?)```", adapter_section(), re.S)
    secrets = tmp_path / "secrets"
    write_ssh_secrets(secrets, ["nanfang_ed25519", "led_ed25519"])
    (secrets / "portal.token").write_text(SECRET + "\n")
    tls = make_tls_files(tmp_path)
    (tmp_path / "certs").mkdir(exist_ok=True)
    (tmp_path / "certs" / "heyuan-gov-ca.pem").write_bytes(tls.ca_file.read_bytes())
    env = {name: SECRET for name in re.findall(r"\$\{([A-Z_]+)\}", README)}
    return [
        parse_config(
            f"attachments: {{root: {ROOT}}}\nchannels:\n" + block + "routes: []\n",
            "README.md",
            registry,
            base_dir=tmp_path,
            env=env,
        )
        for block in blocks
    ]
