"""The adapter registry: adapter kinds found through the ``syndicate.adapters`` entry points.

Built-in adapters are registered exactly like third-party ones. A kind whose
module cannot be imported (a missing optional package) is recorded as
unavailable with the reason, so one broken plug-in disables one kind only.
The registry is an object passed to whoever needs it, never a global.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .adapter import Adapter

AdapterKind = type[Adapter[Any]]

ENTRY_POINT_GROUP = "syndicate.adapters"


class UnknownAdapter(LookupError):
    """No usable adapter of that kind is registered."""


class AdapterRegistry:
    """Adapter kinds by name."""

    def __init__(self, kinds: Mapping[str, AdapterKind] | None = None) -> None:
        self._kinds: dict[str, AdapterKind] = dict(kinds or {})
        self._broken: dict[str, str] = {}
        self._pending: dict[str, EntryPoint] = {}

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> AdapterRegistry:
        registry = cls()
        for ep in entry_points(group=group):
            registry._pending.setdefault(ep.name, ep)
        return registry

    def register(self, kind: AdapterKind, name: str | None = None) -> None:
        self._kinds[name or kind.kind] = kind

    def names(self) -> list[str]:
        return sorted(set(self._kinds) | set(self._pending) | set(self._broken))

    def get(self, name: str) -> AdapterKind:
        if name in self._kinds:
            return self._kinds[name]
        if name in self._pending:
            self._load(name, self._pending.pop(name))
            return self.get(name)
        if name in self._broken:
            raise UnknownAdapter(f"adapter {name!r} is unavailable: {self._broken[name]}")
        known = ", ".join(self.names()) or "none"
        raise UnknownAdapter(f"unknown adapter {name!r} (registered: {known})")

    def available(self) -> Iterable[tuple[str, AdapterKind]]:
        for name in self.names():
            try:
                yield name, self.get(name)
            except UnknownAdapter:
                continue

    def _load(self, name: str, ep: EntryPoint) -> None:
        try:
            kind = ep.load()
        except Exception as exc:  # an optional package may be missing or broken
            self._broken[name] = f"{type(exc).__name__}: {exc}"
            return
        if not (isinstance(kind, type) and issubclass(kind, Adapter)):
            self._broken[name] = f"{ep.value} is not an Adapter subclass"
            return
        self._kinds[name] = kind
