"""Multi-document YAML → plain Python values, remembering where each field was.

``yaml.safe_load_all`` loses line numbers and silently keeps the last of two
equal keys.  A user fixing a topology needs ``file:line`` for every problem and
must hear about a duplicated key (a pasted manifest with two ``ports:`` keys
would otherwise lose one without a word).  So documents are *composed* (node
trees with positions) and converted here, recording the line of every field
path, e.g. ``spec.template.spec.containers[0].ports[1].containerPort``.

Reading is bounded (``Limits``): before a document is converted, its size
with every alias expanded and its nesting depth are measured on the composed
graph -- where an alias is one shared node, so measuring is linear in the
text -- and a document over a limit ends reading with a problem, instead of
being expanded into memory.  A scalar whose tag cannot construct it
(``!!int abc``, the date ``2024-02-30``) is a defect of its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from .limits import DEFAULT_LIMITS, Limits

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def child_path(parent: str, key: object) -> str:
    """The path of a mapping entry: ``a.b``, or ``a["app.kubernetes.io/name"]``."""
    text = str(key)
    if not _PLAIN_KEY.fullmatch(text):
        return f'{parent}["{text}"]'
    return f"{parent}.{text}" if parent else text


def item_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


def parent_path(path: str) -> str:
    """The enclosing path (``a.b[2]`` → ``a.b``; ``a.b`` → ``a``; ``a`` → ``""``)."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path[: path.rindex(".")] if "." in path else ""


@dataclass(frozen=True)
class Defect:
    """A fault found while reading a document (before its kind is known)."""

    path: str
    message: str
    line: int


@dataclass
class Document:
    """One YAML document: its value, and the line each field path starts on."""

    index: int  # 1-based position in the file, empty documents included
    data: Any
    line: int
    lines: dict[str, int] = field(default_factory=dict)
    defects: list[Defect] = field(default_factory=list)

    def part(self, path: str, data: Any) -> Document:
        """The value at ``path`` as a document of its own (an item of a ``List``):
        same index, its field paths and defects relative to ``path``."""
        prefixes = (f"{path}.", f"{path}[")
        lines = {k[len(path) :].lstrip("."): v for k, v in self.lines.items() if k.startswith(prefixes)}
        defects = [
            Defect(d.path[len(path) :].lstrip("."), d.message, d.line) for d in self.defects if d.path.startswith(prefixes)
        ]
        return Document(index=self.index, data=data, line=self.line_of(path), lines=lines, defects=defects)

    def line_of(self, path: str | None) -> int:
        """The line of ``path``, or of its nearest enclosing field that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = parent_path(path)
        return self.line


@dataclass(frozen=True)
class SyntaxProblem:
    """The file stopped being YAML at ``line``; documents before it were read."""

    message: str
    line: int | None
    document: int


def read_documents(text: str, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Document], SyntaxProblem | None]:
    """Every non-empty document of ``text``, and the problem that ended reading, if any."""
    documents: list[Document] = []
    index = 0
    budget = limits.yaml_nodes
    aliased = "*" in text  # no alias without a '*'; one in a string only costs a measurement
    try:
        for node in yaml.compose_all(text, Loader=_LOADER):
            index += 1
            if node.tag == "tag:yaml.org,2002:null":
                continue
            if not aliased:  # every node is its own: the text's size bounds the work, and conversion checks depth
                documents.append(_Converter(index, node, limits).document)
                continue
            size, depth = _measure(node, budget)
            line = node.start_mark.line + 1
            if depth > limits.yaml_depth:
                message = (
                    f"the document nests mappings and lists {depth} levels deep; dpctl reads at most "
                    f"{limits.yaml_depth} ({limits.variable('yaml_depth')})"
                )
                return documents, SyntaxProblem(message, line, index)
            if size > budget:
                message = (
                    f"with its aliases expanded, the file holds more than {limits.yaml_nodes:,} YAML nodes, "
                    f"dpctl's limit ({limits.variable('yaml_nodes')}); is it an alias bomb?"
                )
                return documents, SyntaxProblem(message, line, index)
            budget -= size
            documents.append(_Converter(index, node, limits).document)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(x for x in (exc.context, exc.problem) if x)
        line = mark.line + 1 if mark else None
        return documents, SyntaxProblem(f"invalid YAML: {message}", line, index + 1)
    except yaml.YAMLError as exc:  # e.g. a reader error: bytes that are not text
        return documents, SyntaxProblem(f"invalid YAML: {exc}", None, index + 1)
    except RecursionError:  # only PyYAML's pure-Python composer recurses this deep
        return documents, SyntaxProblem("invalid YAML: nested too deeply to read", None, index + 1)
    return documents, None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _measure(root: yaml.Node, budget: int) -> tuple[int, int]:
    """How many nodes ``root`` becomes with its aliases expanded (counted up to
    ``budget + 1``), and how deep it nests; without recursion, so that
    neither a deep file nor a wide alias graph can exhaust the stack or the time."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()  # a node reached again through itself: a cycle the converter reports
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, measured_children = stack.pop()
        key = id(node)
        if measured_children:
            on_path.discard(key)
            children = _children(node)
            size[key] = min(1 + sum(size.get(id(c), 1) for c in children), budget + 1)
            depth[key] = 1 + max((depth.get(id(c), 0) for c in children), default=0)
            continue
        if key in size or key in on_path:
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    return size[id(root)], depth[id(root)]


class _Converter:
    """Turns one composed node tree into Python values plus a path → line map."""

    def __init__(self, index: int, root: yaml.Node, limits: Limits):
        self.document = Document(index=index, data=None, line=root.start_mark.line + 1)
        self._constructor = SafeConstructor()
        self._active: set[int] = set()  # nodes being converted: an alias back to one is a cycle
        self._limits = limits
        self._depth = 0
        self.document.data = self._value(root, "")

    def _defect(self, path: str, message: str, node: yaml.Node) -> None:
        self.document.defects.append(Defect(path, message, node.start_mark.line + 1))

    def _value(self, node: yaml.Node, path: str) -> Any:
        if id(node) in self._active:
            self._defect(path, "an alias refers to itself (recursive YAML)", node)
            return None
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:  # most scalars: the text is the value, no constructor needed
                return node.value
            try:
                return self._constructor.construct_object(node)
            # PyYAML's scalar constructors fail with whatever their parsing raises
            # ("!!int abc": ValueError, "!!bool maybe": KeyError, 2024-02-30: ValueError):
            # each is a fault of this one field, never of dpctl.
            except Exception as exc:
                detail = getattr(exc, "problem", None) or (str(exc) if isinstance(exc, ValueError) else "")
                what = f"cannot read {node.value!r} as {node.tag.rpartition(':')[2]}"
                self._defect(path, f"{what}: {detail}" if detail else what, node)
                return None
        if self._depth >= self._limits.yaml_depth:
            limit, variable = self._limits.yaml_depth, self._limits.variable("yaml_depth")
            self._defect(path, f"nested more than {limit} levels deep, dpctl's limit ({variable})", node)
            return None
        self._active.add(id(node))
        self._depth += 1
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            assert isinstance(node, yaml.MappingNode)  # the only other kind of node
            return self._mapping(node, path)
        finally:
            self._depth -= 1
            self._active.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode, path: str) -> list[Any]:
        values = []
        for i, item in enumerate(node.value):
            sub = item_path(path, i)
            self.document.lines[sub] = item.start_mark.line + 1
            values.append(self._value(item, sub))
        return values

    def _mapping(self, node: yaml.MappingNode, path: str) -> dict[Any, Any]:
        own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        try:
            self._constructor.flatten_mapping(node)  # resolve "<<" merge keys in place
        except yaml.YAMLError as exc:
            self._defect(path, f"invalid merge key: {getattr(exc, 'problem', exc)}", node)
            return {}
        merged = len(node.value) - own  # entries merged in come first; own keys override them
        values: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            key = self._value(key_node, path)
            if isinstance(key, (list, dict)):
                self._defect(path, "a mapping key must be a scalar", key_node)
                continue
            sub = child_path(path, key)
            line = key_node.start_mark.line + 1
            if position >= merged and key in first_line:
                self._defect(sub, f"duplicate key '{key}' (first at line {first_line[key]})", key_node)
                continue
            if position >= merged:
                first_line[key] = line
            self.document.lines[sub] = line
            values[key] = self._value(value_node, sub)
        return values
