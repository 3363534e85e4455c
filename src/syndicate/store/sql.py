"""Named SQL: each backend's queries live in a ``.sql`` file, one ``-- name: x`` header each.

The SQL stays readable as SQL (and checkable by a DBA) instead of being
spread through Python strings; the code asks for a query by its name.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$")


def parse(text: str, source: str = "<sql>") -> dict[str, str]:
    """The queries of ``text`` by name; text before the first header is a comment on the file."""
    queries: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def flush() -> None:
        if name is None:
            return
        sql = "\n".join(body).strip().rstrip(";").strip()
        if not sql:
            raise ValueError(f"{source}: query {name!r} is empty")
        queries[name] = sql

    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            flush()
            name, body = match[1], []
            if name in queries:
                raise ValueError(f"{source}: query {name!r} is defined twice")
        elif name is not None:
            body.append(line)
    flush()
    return queries


@cache
def load(resource: str) -> dict[str, str]:
    """The named queries of ``syndicate/store/<resource>``."""
    text = files("syndicate.store").joinpath(resource).read_text("utf-8")
    return parse(text, resource)
