"""Hypothesis strategies for hostile topology input.

Three families, as a careless or hostile user would write them:

* ``mutated_topologies``: the shipped topologies and the golden error cases,
  each document loaded, a few values replaced with values of the wrong type
  or shape, keys dropped or invented, items duplicated -- structure-aware, so
  the input reaches far past the YAML reader into validation and planning;
* ``raw_texts``: arbitrary text and bytes decoded as text;
* ``yaml_tricks``: what YAML itself allows -- alias bombs, deep nesting,
  typed scalars that cannot be constructed, merge keys, duplicate keys,
  thousands of documents -- alone or spliced into a valid topology.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted(
    [
        *(ROOT / "topologies").glob("*.yaml"),
        *(ROOT / "tests" / "integration" / "topologies").glob("*.yaml"),
        *(ROOT / "tests" / "unit" / "topology" / "errors").glob("*.yaml"),
    ]
)
_PLACEHOLDERS = {"NAME": "fuzz", "CNI": "vpc", "REPLICAS": "3"}


def _load(path: Path) -> list[Any]:
    text = path.read_text()
    for key, value in _PLACEHOLDERS.items():
        text = text.replace(key, value)
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:  # some golden error cases are broken YAML on purpose
        return []


SEEDS = [docs for docs in (_load(p) for p in SEED_FILES) if docs]

HOSTILE_STRINGS = [
    "", " ", "..", "../..", "/", "/etc/passwd", "x\n", "web\n", "\0", "a\0b", "a" * 64, "a" * 254, "a" * 5000,
    "A", "a.b", "a/b", "-a", "a-", "10.0.0.0/8", "0.0.0.0/0", "10.0.0.1/8", "255.255.255.255", "::1", "fe80::/64",
    "300.1.1.1", "10.0.0.0/33", "-1", "0", "65536", "99999999999999999999999", "1e400", "nan", "true", "null",
    "${HOME}", "$(reboot)", "*", "&a", "!!int", "日本", "\u202e", "\ufeff", "\t", "istio.io/dataplane-mode",
    "TCP", "UDP", "SCTP", "ambient", "none", "LoadBalancer", "NodePort", "ClusterIP", "None", "Local", "Cluster",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**63, 10**9, 10**20, 30000, 32767, 32768, 65535, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.sampled_from(HOSTILE_STRINGS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=20), inner, max_size=6)),
    max_leaves=20,
)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (mapping keys and list indexes)."""
    found = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*here, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*here, index)))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated_topologies(draw: st.DrawFn) -> str:
    docs = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(docs) - 1))
        paths = [p for p in _paths(docs[index]) if p]
        if not paths:
            docs[index] = draw(values)
            continue
        path = draw(st.sampled_from(paths))
        parent, last = _parent(docs[index], path), path[-1]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "duplicate", "wrap"]))
        if action == "replace":
            parent[last] = draw(values)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", "replica", "spec", "metadata", "kind", *HOSTILE_STRINGS[:12]]))] = draw(values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.extend([copy.deepcopy(parent[last])] * draw(st.integers(1, 3)))
        elif action == "wrap":
            parent[last] = [parent[last]] if draw(st.booleans()) else {"x": parent[last]}
    if draw(st.booleans()) and len(docs) > 1:
        docs = draw(st.permutations(docs))
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)


raw_texts = st.one_of(
    st.text(max_size=2000),
    st.binary(max_size=2000).map(lambda data: data.decode("utf-8", "replace")),
    st.lists(st.sampled_from(["---\n", "a:\n", "  - ", "{", "}", "[", "]", ": ", "&x ", "*x ", "!!str ", "\n", "# c\n", "'", '"', "? ", "|\n", "kind: Topology\n"]), max_size=200).map("".join),
)


def _bomb(width: int, depth: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for level in range(1, depth + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _deep(depth: int, flow: bool) -> str:
    if flow:
        return "x: " + "[" * depth + "]" * depth + "\n"
    return "".join("  " * i + "a:\n" for i in range(depth)) + "  " * depth + "b\n"


_TOPOLOGY_HEAD = """apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: fuzz}
spec:
  vpc: {cidr: 192.168.0.0/16, subnets: [{name: a, cidr: 192.168.1.0/24, zone: a}]}
  nodes: [{name: n1, subnet: a}]
"""

_TYPED = ["!!int abc", "!!bool maybe", "!!timestamp nope", "2024-02-30", "0x_", "!!float x", "!!binary ~~~", "!!set {a, b}",
          "!!omap [a, b]", "!!python/object:os.system x", "!!python/name:os.system ''", "!!str [1]", "!!map x", "!!null 1",
          "0o99", "1_000", "+.inf", "-.nan", "2001-12-14t21:59:43.10-05:00", "!<tag:yaml.org,2002:int> z", "!custom x"]


@st.composite
def yaml_tricks(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["bomb", "deep", "typed", "merge", "duplicate", "documents", "in-topology"]))
    if kind == "bomb":
        trick = _bomb(draw(st.integers(2, 12)), draw(st.integers(1, 12)))
    elif kind == "deep":
        trick = _deep(draw(st.integers(50, 1200)), draw(st.booleans()))
    elif kind == "typed":
        trick = "".join(f"k{i}: {t}\n" for i, t in enumerate(draw(st.lists(st.sampled_from(_TYPED), min_size=1, max_size=8))))
    elif kind == "merge":
        count = draw(st.integers(1, 12))
        trick = "base: &b {a: 1, b: [1, 2]}\n" + "".join(f"m{i}: &m{i} {{<<: [*b{''.join(f', *m{j}' for j in range(i))}]}}\n" for i in range(count))
    elif kind == "duplicate":
        trick = "a: 1\n" * draw(st.integers(2, 50))
    elif kind == "documents":
        trick = "---\n" * draw(st.integers(1, 3000))
    else:
        field = draw(st.sampled_from(["metadata", "spec", "spec.vpc", "spec.nodes"]))
        value = draw(st.sampled_from(_TYPED + ["*undefined", "&a [*a]", "[" * 400 + "]" * 400]))
        head = _TOPOLOGY_HEAD.replace("spec:\n", f"spec:\n  extra: {value}\n") if field.startswith("spec") else _TOPOLOGY_HEAD.replace("metadata: {name: fuzz}", f"metadata: {{name: fuzz, x: {value}}}")
        return head
    where = draw(st.sampled_from(["alone", "after", "before"]))
    if where == "alone":
        return trick
    return f"{_TOPOLOGY_HEAD}---\n{trick}" if where == "after" else f"{trick}---\n{_TOPOLOGY_HEAD}"
