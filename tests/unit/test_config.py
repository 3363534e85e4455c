"""channels.yaml: every problem named with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.config import load_config, parse_config, parse_duration
from syndicate.errors import ConfigError
from syndicate.registry import AdapterRegistry
from tests.readme_channels import write_ssh_secrets

GOOD = """\
version: 1
store: {url: ledger.db}
defaults:
  retry: {max_attempts: 4}
channels:
  trading-website:
    adapter: cms_http
    url: https://ggzy.heyuan.gov.cn/api/notices
    auth: {type: bearer, token: "${CMS_TOKEN}"}
  city-portal:
    adapter: cms_http
    url: https://www.heyuan.gov.cn/api/notices
    retry: {max_attempts: 9, initial_delay: 500ms}
routes:
  - match: {category: [construction], region: ["4416*"]}
    channels: [trading-website, city-portal]
"""


def problems(text: str, registry: AdapterRegistry, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "channels.yaml", registry, env=env or {})
    return [str(p) for p in info.value.problems]


def test_a_good_file_parses(registry: AdapterRegistry) -> None:
    config = parse_config(GOOD, "channels.yaml", registry, env={"CMS_TOKEN": "t0k3n"})
    assert list(config.channels) == ["trading-website", "city-portal"]
    portal = config.channels["city-portal"].settings
    assert portal.retry.max_attempts == 9
    assert portal.retry.initial_delay == 0.5
    assert config.channels["trading-website"].settings.retry.max_attempts == 4
    token = config.channels["trading-website"].options.auth.token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "t0k3n"
    assert "t0k3n" not in repr(config.channels["trading-website"].options)


def test_bad_url_names_file_line_and_field(registry: AdapterRegistry) -> None:
    text = GOOD.replace("https://www.heyuan.gov.cn/api/notices", "not a url")
    found = problems(text, registry, {"CMS_TOKEN": "x"})
    assert len(found) == 1
    assert found[0].startswith("channels.yaml:12: channels.city-portal.url: ")


def test_missing_secret_is_named(registry: AdapterRegistry) -> None:
    found = problems(GOOD, registry)
    assert found == [
        "channels.yaml:9: channels.trading-website.auth.token: "
        "environment variable CMS_TOKEN is not set"
    ]


def test_every_problem_is_listed_not_just_the_first(registry: AdapterRegistry) -> None:
    text = (
        GOOD.replace(
            "adapter: cms_http\n    url: https://www.heyuan",
            "adapter: cms_htp\n    url: https://www.heyuan",
        )
        .replace("defaults:\n", "defaults:\n  colour: red\n")
        .replace("[trading-website, city-portal]", "[trading-website, city-portl]")
    )
    found = problems(text, registry, {"CMS_TOKEN": "x"})
    joined = "\n".join(found)
    assert "channels.city-portal.adapter: unknown adapter 'cms_htp'" in joined
    assert "channels.yaml:17: routes.0.channels.1: unknown channel 'city-portl'" in joined
    assert "channels.yaml:4: defaults.colour: unknown field" in joined
    assert len(found) == 3


def test_unknown_keys_are_rejected(registry: AdapterRegistry) -> None:
    text = GOOD.replace(
        "    adapter: cms_http\n    url: https://ggzy",
        "    adapter: cms_http\n    colour: red\n    url: https://ggzy",
    )
    found = problems(text, registry, {"CMS_TOKEN": "x"})
    assert found == ["channels.yaml:8: channels.trading-website.colour: unknown field"]
    top = problems("stores: {}\n" + GOOD, registry, {"CMS_TOKEN": "x"})
    assert top == ["channels.yaml:1: stores: unknown field"]


def test_duplicate_channel_is_refused(registry: AdapterRegistry) -> None:
    text = GOOD.replace("  city-portal:", "  trading-website:")
    found = problems(text, registry, {"CMS_TOKEN": "x"})
    assert any("channels.yaml:10: channels.trading-website: duplicate key" in p for p in found)


def test_broken_yaml_names_the_line(registry: AdapterRegistry) -> None:
    found = problems("channels:\n  a: [1, 2\n  b: c\n", registry)
    assert len(found) == 1
    assert found[0].startswith("channels.yaml:3: not valid YAML")


def test_root_must_be_a_mapping(registry: AdapterRegistry) -> None:
    assert problems("- a\n- b\n", registry) == [
        "channels.yaml:1: the top level must be a mapping (store, channels, routes)"
    ]


def test_alias_bomb_is_stopped(registry: AdapterRegistry) -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        bomb += f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
    found = problems(bomb, registry)
    assert len(found) == 1
    assert "alias bomb" in found[0]


def test_secret_from_file_relative_to_the_config(tmp_path: Path, registry: AdapterRegistry) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "cms").write_text("from-a-file\n")
    text = GOOD.replace('token: "${CMS_TOKEN}"', "token_file: secrets/cms")
    (tmp_path / "channels.yaml").write_text(text)
    config = load_config(tmp_path / "channels.yaml", registry, env={})
    token = config.channels["trading-website"].options.auth.token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "from-a-file"
    assert config.store_url() == f"sqlite:///{tmp_path / 'ledger.db'}"


def test_escaped_dollar_is_literal(registry: AdapterRegistry) -> None:
    text = GOOD.replace(
        "https://ggzy.heyuan.gov.cn/api/notices", "https://ggzy.heyuan.gov.cn/$${X}"
    )
    config = parse_config(text, "c.yaml", registry, env={"CMS_TOKEN": "x"})
    assert config.channels["trading-website"].options.url.endswith("/${X}")  # type: ignore[attr-defined]


def test_missing_file_is_one_clear_problem(tmp_path: Path, registry: AdapterRegistry) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", registry)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), ("500ms", 0.5), ("2s", 2.0), ("10m", 600.0), ("1h", 3600.0), ("1.5d", 129600.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", "1w", True, None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_the_shipped_channels_yaml_is_valid(tmp_path: Path, registry: AdapterRegistry) -> None:
    root = Path(__file__).resolve().parents[2]
    write_ssh_secrets(tmp_path / "secrets", ["nanfang_ed25519"])
    (tmp_path / "channels.yaml").write_text((root / "channels.yaml").read_text("utf-8"))
    env = {
        name: "secret-value"
        for name in [
            "HYGGZY_CMS_SECRET",
            "HYGGZY_CMS_NEXT_SECRET",
            "HEYUAN_PORTAL_TOKEN",
            "LANDCHINA_PASSWORD",
            "HEYUAN_DAILY_SFTP_PASSWORD",
            "HEYUAN_EVENING_SMTP_PASSWORD",
        ]
    }
    config = load_config(tmp_path / "channels.yaml", registry, env=env)
    assert set(config.channels) == {
        "trading-website",
        "city-portal",
        "land-market",
        "nanfang-daily",
        "heyuan-daily",
        "heyuan-evening",
        "led-screens",
    }


def test_a_template_reaching_for_private_attributes_is_a_config_error(
    registry: AdapterRegistry,
) -> None:
    text = GOOD.replace(
        "    url: https://www.heyuan.gov.cn/api/notices\n",
        "    url: https://www.heyuan.gov.cn/api/notices\n"
        "    template: '{{ notice.__class__.__mro__ }}'\n",
    )
    found = problems(text, registry, {"CMS_TOKEN": "x"})
    assert found == [
        "channels.yaml:13: channels.city-portal.template: "
        "template may not use the private attribute '__mro__'"
    ] or found == [
        "channels.yaml:13: channels.city-portal.template: "
        "template may not use the private attribute '__class__'"
    ]


def test_approval_steps_are_read_and_bad_ones_named_with_their_line(
    registry: AdapterRegistry,
) -> None:
    good = GOOD + (
        "approvals:\n"
        "  - match: {category: [construction], notice_type: [tender]}\n"
        "    steps: [科室负责人, 分管领导]\n"
    )
    config = parse_config(good, "channels.yaml", registry, env={"CMS_TOKEN": "x"})
    assert [(r.match.category, r.steps) for r in config.approvals] == [
        (["construction"], ["科室负责人", "分管领导"])
    ]
    bad = GOOD + (
        "approvals:\n"
        "  - match: {category: [construction]}\n"
        "    steps: []\n"
        "  - steps:\n"
        "      - 科室负责人\n"
        "      - 分管领导\n"
        "      - 科室负责人\n"
        "  - steps: [' 主任']\n"
        "  - match: {category: [roads]}\n"
        "    steps: [主任]\n"
    )
    found = problems(bad, registry, {"CMS_TOKEN": "x"})
    assert any(p.startswith("channels.yaml:19: approvals.0.steps: at least one") for p in found)
    assert "channels.yaml:23: approvals.1.steps.2: step '科室负责人' is named twice" in found
    assert any(p.startswith("channels.yaml:24: approvals.2.steps.0: ") for p in found), found
    assert any(p.startswith("channels.yaml:25: approvals.3.match.category.0: ") for p in found)
    assert len(found) == 4, found
