"""A YAML file turned into plain Python values plus the position of every key and value.

We walk ruamel.yaml's composed node graph ourselves instead of using its constructor:
the nodes carry exact marks for every key and scalar (the marks CommentedMap's `.lc` is
filled from), all duplicate keys can be reported (not just the first), no Python object
is ever built from a tag, and timestamps stay text for pydantic to read. The "safe"
composer resolves tags as the round-trip one does (YAML 1.2) but skips comment
bookkeeping, which halves the parse time of a typical file.

`${VAR}` interpolation happens here, on string values only (never keys), so an error can
point at the column of the offending `$`.

Paths are tuples of mapping keys and sequence indexes, e.g. ("monitors", 2, "interval").
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from upstate.config.interpolate import InterpolationError, interpolate

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_MAX_NODES = 100_000  # bounds alias expansion ("billion laughs")
_MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
_BRACKET_START = re.compile(r"(?:^|[-:])\s+[\[{][^\]}]*[\]}]\s*[^\s#,\]}]")


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True, slots=True)
class _Scalar:
    """Where a string scalar sits in the source, to map an index inside it to a column."""

    start: Position
    style: str | None  # None (plain), '"', "'", '|', '>'
    begin: int  # offsets of the scalar's source text, quotes included
    end: int


@dataclass(frozen=True, slots=True)
class SourceIssue:
    path: Path
    position: Position
    message: str


@dataclass
class Document:
    """The parsed tree and where everything in it came from.

    A node reached again through an alias (or a `<<` merge) is built once; its new path
    is recorded in `aliases`, pointing at the path where it was first built, so positions
    resolve to the anchored text.
    """

    data: Any
    text: str = ""
    keys: dict[Path, Position] = field(default_factory=dict)
    values: dict[Path, Position] = field(default_factory=dict)
    scalars: dict[Path, _Scalar] = field(default_factory=dict)
    aliases: dict[Path, Path] = field(default_factory=dict)
    poisoned: set[Path] = field(default_factory=set)  # values already reported (interpolation)

    def position(self, path: Path, *, at_key: bool = False) -> Position:
        """The value's position (or its key's), else the nearest enclosing one's."""
        resolved = self.resolve(path)
        if at_key:
            for candidate in (path, resolved):
                if candidate in self.keys:
                    return self.keys[candidate]
        for end in range(len(resolved), -1, -1):
            prefix = resolved[:end]
            if prefix in self.values:
                return self.values[prefix]
            if prefix in self.keys:
                return self.keys[prefix]
        return Position(1, 1)

    def text_position(self, path: Path, text: str, index: int) -> Position:
        """Where character `index` of the string `text` at `path` is in the file.

        Exact for one-line plain and quoted scalars whose source spells `text` literally;
        otherwise (escapes, folding, interpolation) the start of the value.
        """
        scalar = self.scalars.get(self.resolve(path))
        if scalar is None:
            return self.position(path)
        return _text_position(scalar, self.text, text, index)

    def is_poisoned(self, path: Path) -> bool:
        resolved = self.resolve(path)
        return any(p[: len(bad)] == bad for bad in self.poisoned for p in (path, resolved))

    def resolve(self, path: Path) -> Path:
        """`path` with any aliased prefix replaced by where that node was first built."""
        for _ in range(_MAX_DEPTH):
            for end in range(len(path), 0, -1):
                target = self.aliases.get(path[:end])
                if target is not None:
                    path = target + path[end:]
                    break
            else:
                return path
        return path


def parse(text: str, env: Mapping[str, str]) -> tuple[Document | None, list[SourceIssue]]:
    """Parse one YAML document; (None, issues) when it is not YAML at all."""
    yaml = YAML(typ="safe", pure=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a reused anchor name: legal YAML
            root = yaml.compose(text)
    except MarkedYAMLError as exc:
        return None, [_syntax_issue(exc, text)]
    except YAMLError as exc:  # ReaderError: a character YAML does not allow
        where = getattr(exc, "position", None)
        position = _offset_position(text, where) if isinstance(where, int) else Position(1, 1)
        reason = getattr(exc, "reason", None) or "unreadable text"
        return None, [SourceIssue((), position, f"invalid YAML: {reason}")]
    except RecursionError:
        return None, [SourceIssue((), Position(1, 1), "invalid YAML: nested too deeply")]
    builder = _Builder(text, env)
    if root is not None:
        builder.document.data = builder.build(root, (), 0, frozenset())
    return builder.document, builder.issues


def _text_position(scalar: _Scalar, source: str, text: str, index: int) -> Position:
    offset = {None: 0, '"': 1, "'": 1}.get(scalar.style)
    quote = scalar.style or ""
    raw = source[scalar.begin : scalar.end]
    if offset is not None and raw == f"{quote}{text}{quote}" and "\n" not in text:
        index = min(max(index, 0), len(text))
        return Position(scalar.start.line, scalar.start.column + offset + index)
    return scalar.start


def _syntax_issue(exc: MarkedYAMLError, text: str) -> SourceIssue:
    mark = exc.problem_mark or exc.context_mark
    position = Position(mark.line + 1, mark.column + 1) if mark is not None else Position(1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem and exc.context not in problem:
        problem = f"{problem} ({exc.context})"
    lines = text.splitlines()
    line = lines[position.line - 1] if 0 < position.line <= len(lines) else ""
    return SourceIssue((), position, f"invalid YAML: {problem}{_hint(problem, line)}")


def _hint(problem: str, line: str) -> str:
    """What usually causes ruamel's message, in words a config author knows."""
    if _BRACKET_START.search(line):
        return '; quote values that start with [ or {, e.g. - "[STATUS] == 200"'
    if "'\\t'" in problem:
        return "; indent with spaces, not tabs"
    if "mapping values are not allowed here" in problem:
        return "; quote a value that contains ': '"
    if "expected <block end>" in problem:
        return "; check the indentation of this line against the lines above"
    return ""


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    line = before.count("\n") + 1
    return Position(line, offset - (before.rfind("\n") + 1) + 1)


def _position(node: Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.document = Document(data=None, text=text)
        self.env = env
        self.issues: list[SourceIssue] = []
        self.built: dict[int, tuple[Path, Any, int]] = {}  # id(node) -> (path, value, size)
        self.size = 0  # nodes in the expanded tree so far

    def fail(self, path: Path, position: Position, message: str) -> None:
        self.issues.append(SourceIssue(path, position, message))
        self.document.poisoned.add(path)

    def build(self, node: Node, path: Path, depth: int, active: frozenset[int]) -> Any:
        where = _position(node)
        self.document.values.setdefault(path, where)
        if id(node) in active:
            self.fail(path, where, "invalid structure: an alias refers to itself")
            return None
        if id(node) in self.built:  # an alias: built once, counted at its full size again
            first, value, size = self.built[id(node)]
            self.document.aliases[path] = first
            return self.count(path, where, size, value)
        if depth > _MAX_DEPTH:
            self.fail(path, where, "invalid structure: nested too deeply")
            return None
        before = self.size
        value = self.count(path, where, 1, None)
        if self.size <= _MAX_NODES:
            value = self.construct(node, path, depth, active | {id(node)})
        self.built[id(node)] = (path, value, self.size - before)
        return value

    def count(self, path: Path, where: Position, size: int, value: Any) -> Any:
        """Bound the expanded size: aliases can grow a tiny file without limit."""
        self.size += size
        if self.size > _MAX_NODES:
            if self.size - size <= _MAX_NODES:
                self.fail(path, where, "document too large (aliases expand too far)")
            return None
        return value

    def construct(self, node: Node, path: Path, depth: int, active: frozenset[int]) -> Any:
        tag = str(node.tag)
        if isinstance(node, MappingNode) and tag == _TAG + "map":
            return self.mapping(node, path, depth, active)
        if isinstance(node, SequenceNode) and tag == _TAG + "seq":
            return [
                self.build(item, (*path, index), depth + 1, active)
                for index, item in enumerate(node.value)
            ]
        if isinstance(node, ScalarNode):
            return self.scalar(node, tag, path)
        self.fail(path, _position(node), f"unsupported YAML tag {tag}")
        return None

    def mapping(
        self, node: MappingNode, path: Path, depth: int, active: frozenset[int]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges: list[Node] = []
        document = self.document
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.fail(path, _position(key_node), "mapping keys must be plain text")
                continue
            key = str(key_node.value)
            where = _position(key_node)
            if _SURROGATE.search(key):
                self.fail(path, where, "a key holds a lone \\uD800-\\uDFFF escape")
                continue
            if key in first_line:
                self.fail(
                    (*path, key), where, f"duplicate key {key} (first at line {first_line[key]})"
                )
                continue
            first_line[key] = where.line
            document.keys[(*path, key)] = where
            result[key] = self.build(value_node, (*path, key), depth + 1, active)
            if _is_empty(value_node):
                document.values[(*path, key)] = where
        for number, merge in enumerate(merges):
            self.merge(merge, (*path, f"<<{number}"), result, path, depth, active)
        return result

    def merge(
        self,
        merge: Node,
        at: Path,
        result: dict[str, Any],
        path: Path,
        depth: int,
        active: frozenset[int],
    ) -> None:
        """`<<: *a` or `<<: [*a, *b]`: keys the mapping does not set itself, first wins."""
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for index, source in enumerate(sources):
            if not isinstance(source, MappingNode) or id(source) in active:
                self.fail(path, _position(merge), "a merge (<<) needs a mapping or aliases")
                continue
            merged = self.build(source, (*at, index), depth + 1, active)
            origin = self.document.resolve((*at, index))
            for key, value in (merged or {}).items():
                if key not in result:
                    result[key] = value
                    self.document.aliases[(*path, key)] = (*origin, key)

    def scalar(self, node: ScalarNode, tag: str, path: Path) -> Any:
        value = str(node.value)
        if _SURROGATE.search(value):  # from "\ud800" escapes; no encoder accepts them
            self.fail(path, _position(node), "invalid text: a lone \\uD800-\\uDFFF escape")
            return None
        if tag in (_TAG + "str", _TAG + "timestamp"):
            scalar = _Scalar(
                _position(node), node.style, node.start_mark.index, node.end_mark.index
            )
            self.document.scalars[path] = scalar
            if "$" not in value:
                return value
            try:
                result = interpolate(value, self.env)
            except InterpolationError as exc:
                where = _text_position(scalar, self.document.text, value, exc.offset)
                self.fail(path, where, exc.message)
                return value
            if _SURROGATE.search(result):  # os.environ's stand-ins for undecodable bytes
                self.fail(path, scalar.start, "an environment variable here is not UTF-8 text")
                return None
            return result
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return value.lower() in ("true", "yes", "on", "y")
        if tag == _TAG + "int":
            return _to_int(value)
        if tag == _TAG + "float":
            return _to_float(value)
        self.fail(path, _position(node), f"unsupported YAML tag {tag}")
        return None


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null" and node.value == ""


def _to_int(text: str) -> int | str:
    cleaned = text.replace("_", "").lower()
    sign = -1 if cleaned.startswith("-") else 1
    digits = cleaned.lstrip("+-")
    bases = {"0x": 16, "0o": 8, "0b": 2}
    try:
        base = bases.get(digits[:2], 10)
        return sign * int(digits[2:] if base != 10 else digits, base)
    except ValueError:
        return text


def _to_float(text: str) -> float | str:
    cleaned = text.replace("_", "").lower()
    specials = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    if cleaned in specials:
        return specials[cleaned]
    try:
        return float(cleaned)
    except ValueError:
        return text
