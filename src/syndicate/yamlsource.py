"""YAML read safely, remembering the line every value came from.

PyYAML's safe composer gives nodes with positions; we build plain Python
values from them ourselves so that we can (1) note the line of every mapping
key and sequence item, (2) refuse duplicate keys, which PyYAML silently
overwrites, and (3) stop an alias bomb before it expands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import Problem

Path = tuple[str | int, ...]

MAX_NODES = 100_000
"""More values than this after alias expansion is refused: no channels.yaml is that big."""


@dataclass
class YamlDocument:
    """A parsed YAML document and where each of its values stands."""

    source: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ["map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge"]
)


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []
        self.count = 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node.start_mark.line + 1)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in _PLAIN_TAGS:
            # The safe loader refuses python tags on scalars; on collections, so do we.
            raise _Unsupported(node.start_mark.line + 1, f"the tag {node.tag} is not allowed", path)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Unsupported(
                        key_node.start_mark.line + 1, "merge keys (<<) are not supported"
                    )
                key = self.build(key_node, (*path, "<key>"))
                if not isinstance(key, str | int | bool) or key is None:
                    self.problems.append(
                        Problem(
                            _dotted(path),
                            "mapping keys must be plain text",
                            self.source,
                            key_node.start_mark.line + 1,
                        )
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                if key in result:
                    self.problems.append(
                        Problem(
                            _dotted((*path, key)),
                            "duplicate key (an earlier one has the same name)",
                            self.source,
                            key_node.start_mark.line + 1,
                        )
                    )
                    continue
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        constructor = yaml.SafeLoader("")
        try:
            return constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _Unsupported(node.start_mark.line + 1, str(exc).splitlines()[0], path) from None
        except ValueError as exc:  # a timestamp that matches the pattern but not the calendar
            raise _Unsupported(node.start_mark.line + 1, f"not a date: {exc}", path) from None
        finally:
            constructor.dispose()


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Unsupported(Exception):
    def __init__(self, line: int, message: str, path: Path = ()) -> None:
        self.line = line
        self.message = message
        self.path = path


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path if p != "<key>")


def load_yaml(text: str, source: str) -> tuple[YamlDocument | None, list[Problem]]:
    """Parse ``text``; the document (or None) and every problem found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        return None, [Problem("", "nested too deeply", source)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        return None, [Problem("", f"not valid YAML: {what}", source, line)]
    except yaml.YAMLError as exc:
        return None, [Problem("", f"not valid YAML: {exc}", source)]
    if node is None:
        return YamlDocument(source, None, {(): 1}), []
    builder = _Builder(source)
    try:
        data = builder.build(node, ())
    except _TooBig as exc:
        return None, [
            Problem(
                "",
                f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)",
                source,
                exc.line,
            )
        ]
    except _Unsupported as exc:
        return None, [Problem(_dotted(exc.path), exc.message, source, exc.line)]
    except RecursionError:
        return None, [Problem("", "nested too deeply", source)]
    return YamlDocument(source, data, builder.lines), builder.problems
