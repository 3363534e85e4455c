"""Every adapter in the entry-point group keeps the contract, whoever wrote it.

It has an options model that refuses unknown keys, it renders every example
notice it accepts (purely, deterministically), its preview shows the payload
and never a secret, and a script in a notice never comes out as markup.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
from html import escape
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from syndicate.adapter import Adapter, DeliveryContext, Options
from syndicate.config import Channel
from syndicate.errors import DeliveryError, NoticeError
from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry
from syndicate.store.base import idempotency_key
from syndicate.syndicator import build_adapter
from tests.readme_channels import ROOT, SECRET, readme_configs

pytestmark = pytest.mark.integration

EXAMPLES = sorted((ROOT / "examples" / "notices").glob("*.json"))
HOSTILE = sorted((ROOT / "tests" / "corpus" / "hostile-valid").glob("*.json"))


def channels(tmp_path: Path, registry: AdapterRegistry) -> list[Channel]:
    return [ch for config in readme_configs(tmp_path, registry) for ch in config.channels.values()]


def render(adapter: Adapter[Options], notice: Notice) -> tuple[str, str, dict[str, bytes]]:
    ctx = DeliveryContext(
        channel=adapter.channel,
        idempotency_key=idempotency_key(notice.id, notice.version, adapter.channel),
        notice_digest=notice.digest(),
    )
    payload = adapter.render(notice, ctx)
    return payload.digest(), payload.preview(), dict(payload.parts)


def html_documents(parts: dict[str, bytes]) -> list[str]:
    """The HTML a channel receives: HTML files, and the HTML alternative of an e-mail."""
    found = []
    for name, content in parts.items():
        if name.endswith((".html", ".htm")):
            found.append(content.decode("utf-8", "replace"))
        elif name.endswith(".eml"):
            message = email.message_from_bytes(content, policy=email.policy.default)
            for part in message.walk():
                if part.get_content_type() == "text/html":
                    found.append(str(part.get_content()))
    return found


def test_every_registered_kind_has_a_strict_options_model(registry: AdapterRegistry) -> None:
    assert set(registry.names()) >= {
        "cms_http",
        "land_market",
        "sftp_inbox",
        "email_inbox",
        "led_feed",
    }
    for name, kind in registry.available():
        assert kind.kind == name
        assert issubclass(kind.Options, Options)
        assert kind.Options.model_config.get("extra") == "forbid"
        with pytest.raises(ValidationError):
            kind.Options.model_validate({"surely_not_an_option": 1})


def test_every_adapter_renders_every_example_it_accepts(
    tmp_path: Path, registry: AdapterRegistry
) -> None:
    notices = [Notice.parse(p.read_bytes(), source=p.name) for p in EXAMPLES]
    assert len(notices) >= 9
    rendered: dict[str, int] = {}
    for channel in channels(tmp_path, registry):
        adapter = build_adapter(channel)
        for notice in notices:
            if adapter.check(notice):
                continue
            digest, preview, parts = render(adapter, notice)
            assert render(adapter, notice)[0] == digest, (
                f"{channel.name}: render is not deterministic"
            )
            assert parts, f"{channel.name}: no payload for {notice.key}"
            assert all(parts.values()), f"{channel.name}: an empty part for {notice.key}"
            assert preview.strip()
            assert SECRET not in preview, f"{channel.name} previews a secret"
            rendered[channel.settings.adapter] = rendered.get(channel.settings.adapter, 0) + 1
    assert set(rendered) == set(registry.names())


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.name)
def test_markup_in_a_notice_never_comes_out_as_markup(
    path: Path, tmp_path: Path, registry: AdapterRegistry
) -> None:
    notice = Notice.parse(path.read_bytes())
    data = json.loads(path.read_text("utf-8"))
    assert "<script" in json.dumps(data, ensure_ascii=False)
    checked = 0
    for channel in channels(tmp_path, registry):
        adapter = build_adapter(channel)
        if adapter.check(notice):
            continue
        _, _, parts = render(adapter, notice)
        for document in html_documents(parts):
            checked += 1
            # The title is text: in HTML it must arrive escaped, never as a live element.
            # (body_html is the publisher's own HTML and passes as given.)
            if "<script" in notice.title:
                assert notice.title not in document, f"{channel.name} copies the title raw"
                assert escape(notice.title) in document or "&lt;script" in document
    assert checked >= 1


TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("<>&\"'{}%\n\t"),
    min_size=1,
    max_size=120,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(title=TEXT, summary=TEXT, body=TEXT, publisher=TEXT)
def test_every_renderer_takes_any_valid_notice(
    tmp_path_factory: pytest.TempPathFactory,
    registry: AdapterRegistry,
    title: str,
    summary: str,
    body: str,
    publisher: str,
) -> None:
    """Whatever text a valid notice holds, a renderer answers a payload or a delivery error."""
    base = json.loads((ROOT / "examples" / "notices" / "land-transfer.json").read_text("utf-8"))
    base.update(title=title[:300], summary=summary[:500], body_html=body)
    base["publisher"]["name"] = publisher[:200]
    try:
        notice = Notice.parse(base)
    except NoticeError:
        return  # not a valid notice: the model's business, tested on its own
    for channel in _channels_once(tmp_path_factory, registry):
        adapter = build_adapter(channel)
        if adapter.check(notice):
            continue
        # A delivery error (e.g. a character the screen's encoding lacks) is a refusal
        # with a reason; anything else escaping is a bug in the renderer.
        with contextlib.suppress(DeliveryError):
            render(adapter, notice)


_CACHE: dict[str, list[Channel]] = {}


def _channels_once(factory: pytest.TempPathFactory, registry: AdapterRegistry) -> list[Channel]:
    if "channels" not in _CACHE:
        _CACHE["channels"] = channels(factory.mktemp("readme"), registry)
    return _CACHE["channels"]
