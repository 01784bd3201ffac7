"""Strict YAML reading with line numbers, shared by runbooks, inventories and baselines.

PyYAML loses positions once data is constructed; we keep a map from each key path to its
line so that a schema error can name ``file:line: field``. Duplicate keys are errors (YAML
allows them silently, and a silently ignored key in a runbook is a surprise waiting to happen).
Timestamps stay strings: the schema decides what a value means, not the YAML resolver.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hisops.errors import InputError

PathKey = tuple[str | int, ...]


# libyaml's C parser when present: a 1,000-host inventory parses ~10x faster.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    pass


# Drop the implicit timestamp resolver: "2026-11-26" stays a string.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class YamlDocument:
    path: str
    data: Any
    lines: dict[PathKey, int]  # 1-based line of each key / item

    def line_of(self, loc: PathKey) -> int | None:
        """The line of the deepest known prefix of ``loc``."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], file: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Hashable] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in seen:
                raise InputError(
                    "duplicate key", file=file, line=key_node.start_mark.line + 1,
                    field=".".join(str(p) for p in (*path, key)),
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, file)


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document; any YAML error becomes a one-line :class:`InputError`."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            lines: dict[PathKey, int] = {}
            data = None
            if node is not None:
                _walk(node, (), lines, file)
                data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", file=file) from None
    return YamlDocument(path=file, data=data, lines=lines)


def read_yaml_bytes(path: Path, error: type[InputError] = InputError
                    ) -> tuple[bytes, YamlDocument]:
    """(the file's bytes, for a digest; its document), or ``error`` naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error("file not found", file=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=str(path)) from None
    try:
        return raw, parse_yaml(text, str(path))
    except InputError as exc:
        raise error(exc.message, file=exc.file, line=exc.line, field=exc.field) from None


def load_yaml(path: Path) -> YamlDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=str(path)) from None
    return parse_yaml(text, str(path))
