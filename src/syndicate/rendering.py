"""Per-channel templates, run in Jinja2's sandbox.

Operators write templates in channels.yaml; they must not reach past the
notice. Templates run in ``SandboxedEnvironment``, HTML templates autoescape,
and a template naming a private attribute (``__class__``, ``_anything``) is a
configuration error before it ever runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from .errors import PermanentDeliveryError
from .notice import LOCAL_TZ, Notice

DISPLAY_TZ = LOCAL_TZ


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as operators read it: Asia/Shanghai."""
    if value is None:
        return ""
    return value.astimezone(DISPLAY_TZ).strftime(fmt)


def _environment(html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=html, undefined=StrictUndefined, keep_trailing_newline=True
    )
    env.filters["local_time"] = local_time
    return env


_ENVIRONMENTS = {True: _environment(True), False: _environment(False)}


class Template:
    """A compiled, checked channel template."""

    def __init__(self, source: str, *, html: bool) -> None:
        env = _ENVIRONMENTS[html]
        try:
            tree = env.parse(source)
        except TemplateError as exc:
            raise ValueError(f"template does not parse: {exc}") from None
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            name = (
                node.attr if isinstance(node, nodes.Getattr) else _const(getattr(node, "arg", None))
            )
            if isinstance(name, str) and name.startswith("_"):
                raise ValueError(f"template may not use the private attribute {name!r}")
        self.source = source
        self.html = html
        self._template = env.from_string(source)

    def render(self, notice: Notice, **extra: Any) -> str:
        """Render for ``notice``; a template failure is permanent for this delivery."""
        try:
            return self._template.render(notice=notice, **extra)
        except SecurityError as exc:
            raise PermanentDeliveryError(f"template refused by the sandbox: {exc}") from None
        except TemplateError as exc:
            raise PermanentDeliveryError(f"template failed: {exc}") from None


def _const(node: Any) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def template_validator(html: bool) -> Any:
    """A pydantic validator turning template text into a checked ``Template``."""

    def validate(value: Any) -> Any:
        if isinstance(value, Template) or value is None:
            return value
        if not isinstance(value, str):
            raise ValueError("a template must be text")
        return Template(value, html=html)

    return validate
