"""A NetworkPolicy (networking.k8s.io/v1) as enforcement reads it.

``policyTypes`` defaults as the API server defaults it: ``Ingress``, plus
``Egress`` when the spec has an ``egress`` section.  A rule with no peers
(``from``/``to`` absent or empty) allows every peer, with no ``ports`` every
port; a peer with a ``namespaceSelector`` and no ``podSelector`` is every
pod of the selected namespaces, with only a ``podSelector`` the selected
pods of the policy's own namespace, and an ``ipBlock`` a CIDR less its
``except`` ranges (only addresses: pods are matched as addresses too, as
the enforcing agents see them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from .selectors import Selector, problems

PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class IpBlock:
    cidr: str
    excepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peer:
    pods: Selector | None = None  # None with namespaces set: every pod of those namespaces
    namespaces: Selector | None = None  # None: the policy's own namespace
    block: IpBlock | None = None


@dataclass(frozen=True)
class Port:
    protocol: str = "TCP"
    port: int | str | None = None  # None: every port of the protocol; a str is a named container port
    end_port: int | None = None


@dataclass(frozen=True)
class Rule:
    peers: tuple[Peer, ...] = ()  # empty: every peer
    ports: tuple[Port, ...] = ()  # empty: every port


@dataclass(frozen=True)
class NetworkPolicy:
    namespace: str
    name: str
    pods: Selector
    ingress: tuple[Rule, ...] | None  # None: the policy does not isolate ingress
    egress: tuple[Rule, ...] | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def from_spec(namespace: str, name: str, spec: Mapping[str, Any]) -> NetworkPolicy:
    """The policy ``spec`` (shape-checked) says; ``check`` finds what the API server would refuse."""
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
    return NetworkPolicy(
        namespace, name, Selector.from_spec(spec.get("podSelector", {})),
        tuple(_rule(r, "from") for r in spec.get("ingress", [])) if "Ingress" in types else None,
        tuple(_rule(r, "to") for r in spec.get("egress", [])) if "Egress" in types else None,
    )


def _rule(raw: Mapping[str, Any], peers_field: str) -> Rule:
    return Rule(tuple(_peer(p) for p in raw.get(peers_field, [])), tuple(_port(p) for p in raw.get("ports", [])))


def _peer(raw: Mapping[str, Any]) -> Peer:
    block = raw.get("ipBlock")
    return Peer(
        Selector.from_spec(raw["podSelector"]) if "podSelector" in raw else None,
        Selector.from_spec(raw["namespaceSelector"]) if "namespaceSelector" in raw else None,
        IpBlock(block["cidr"], tuple(block.get("except", []))) if block else None,
    )


def _port(raw: Mapping[str, Any]) -> Port:
    return Port(raw.get("protocol", "TCP"), raw.get("port"), raw.get("endPort"))


def check(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) of what the API server refuses in a NetworkPolicy."""
    found: list[tuple[str, str]] = []
    for direction, peers_field in (("ingress", "from"), ("egress", "to")):
        for r, rule in enumerate(spec.get(direction, [])):
            for p, peer in enumerate(rule.get(peers_field, [])):
                at = f"spec.{direction}[{r}].{peers_field}[{p}]"
                found += _check_peer(at, peer)
            for p, port in enumerate(rule.get("ports", [])):
                at = f"spec.{direction}[{r}].ports[{p}]"
                end, number = port.get("endPort"), port.get("port")
                if end is not None and not isinstance(number, int):
                    found.append((f"{at}.endPort", "needs a numeric port"))
                elif end is not None and isinstance(number, int) and end < number:
                    found.append((f"{at}.endPort", f"must be at least port ({number}); got {end}"))
                if isinstance(number, int) and not 1 <= number <= 65535:
                    found.append((f"{at}.port", f"must be within 1-65535; got {number}"))
    types = spec.get("policyTypes", [])
    for i, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            found.append((f"spec.policyTypes[{i}]", f"must be Ingress or Egress; got {kind!r}"))
    return found


def _check_peer(at: str, peer: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    block = peer.get("ipBlock")
    if block is not None and ("podSelector" in peer or "namespaceSelector" in peer):
        found.append((f"{at}", "ipBlock cannot be combined with podSelector or namespaceSelector"))
    if not peer:
        found.append((f"{at}", "a peer needs podSelector, namespaceSelector or ipBlock"))
    if block is not None:
        try:
            network = IPv4Network(block["cidr"], strict=False)
        except ValueError as exc:
            return [*found, (f"{at}.ipBlock.cidr", f"not an IPv4 CIDR: {exc}")]
        for e, text in enumerate(block.get("except", [])):
            try:
                inner = IPv4Network(text, strict=False)
            except ValueError as exc:
                found.append((f"{at}.ipBlock.except[{e}]", f"not an IPv4 CIDR: {exc}"))
                continue
            if not inner.subnet_of(network) or inner == network:
                found.append((f"{at}.ipBlock.except[{e}]", f"{text} must be strictly within {block['cidr']}"))
    for field in ("podSelector", "namespaceSelector"):
        if field in peer:
            found += [(f"{at}.{field}.{path}", message) for path, message in problems(peer[field])]
    return found
