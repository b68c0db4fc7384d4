"""Which Ingresses an ALB serves, and in what order (the LBC's
``group_loader.go``).

An Ingress is the ALB controller's when its ``kubernetes.io/ingress.class``
annotation says ``alb`` or, without that annotation, its
``spec.ingressClassName`` names an IngressClass whose controller is
``ingress.k8s.aws/alb``; any other Ingress, or one naming a class that does
not exist, is left alone without a word.  Ingresses sharing a
``group.name`` share one ALB; any other is a group of its own, named
``<namespace>/<name>``.  Members are ordered by ``group.order`` (lower
first, unset = 0), then by ``namespace/name``.

``group.order``: explicit orders must lie in 1-1000 and be unique in a
group, as ``aws-edge.md`` §1.2 states.  (The LBC has accepted -1000..1000
and duplicates since v2.4.3, PR #2634; the constants below are the switch.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .albmodel import Report
from .annotations import PREFIX, field, parse_int32

ALB_CONTROLLER = "ingress.k8s.aws/alb"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
CLASS_ANNOTATION_VALUE = "alb"  # the LBC's --ingress-class default
GROUP_NAME = re.compile(r"([a-z0-9][-a-z0-9.]*)?[a-z0-9]")
MAX_GROUP_NAME = 63
MIN_ORDER, MAX_ORDER = 1, 1000
UNIQUE_ORDERS = True


@dataclass(frozen=True)
class Member:
    """One Ingress of a group, its fields read from the caller's object."""

    namespace: str
    name: str
    annotations: Mapping[str, str]
    spec: Mapping[str, Any]
    order: int = 0

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def label(self) -> str:
        """How reports name it: ``Ingress <namespace>/<name>``."""
        return f"Ingress {self.key}"


def read(ingress: object) -> Member:
    """A Member from a dict or an object with namespace, name, annotations, spec."""

    def get(name: str, default: Any) -> Any:
        value = ingress.get(name, default) if isinstance(ingress, Mapping) else getattr(ingress, name, default)
        return default if value is None else value

    return Member(get("namespace", "default"), get("name", ""), get("annotations", {}), get("spec", {}))


def groups(
    ingresses: Sequence[object], ingress_classes: Mapping[str, str], report: Report
) -> dict[str, list[Member]]:
    """The ALB's Ingresses by group name, each list in group order; a group
    with a bad or clashing ``group.order`` is reported and left out (the
    LBC fails to load it), an Ingress with a bad ``group.name`` too."""
    found: dict[str, list[Member]] = {}
    for ingress in ingresses:
        member = read(ingress)
        if not _is_alb(member, ingress_classes):
            continue
        group = _group_name(member, report)
        if group is not None:
            found.setdefault(group, []).append(member)
    ordered: dict[str, list[Member]] = {}
    for group, members in sorted(found.items()):
        orders = _orders(sorted(members, key=lambda m: m.key), report)
        if orders is not None:
            ordered[group] = sorted(orders, key=lambda m: (m.order, m.key))
    return ordered


def _is_alb(member: Member, ingress_classes: Mapping[str, str]) -> bool:
    """The class annotation, when present, decides alone (it outranks
    ``spec.ingressClassName`` in the LBC)."""
    if CLASS_ANNOTATION in member.annotations:
        return member.annotations[CLASS_ANNOTATION] == CLASS_ANNOTATION_VALUE
    class_name = member.spec.get("ingressClassName")
    return class_name is not None and ingress_classes.get(class_name) == ALB_CONTROLLER


def _group_name(member: Member, report: Report) -> str | None:
    key = PREFIX + "group.name"
    if key not in member.annotations:
        return member.key
    name = member.annotations[key]
    where = f"{member.label}: {field(key)}"
    if not GROUP_NAME.fullmatch(name):
        report(where, f"{name!r}: groupName must consist of lower case alphanumeric characters, '-' or '.', "
               "and must start and end with an alphanumeric character")
        return None
    if len(name) > MAX_GROUP_NAME:
        report(where, f"groupName must be no more than {MAX_GROUP_NAME} characters (has {len(name)})")
        return None
    return name


def _orders(members: list[Member], report: Report) -> list[Member] | None:
    """The members with their order, or None when one is bad."""
    key = PREFIX + "group.order"
    out: list[Member] = []
    holders: dict[int, Member] = {}
    bad = False
    for member in members:
        if key not in member.annotations:
            out.append(member)
            continue
        where = f"{member.label}: {field(key)}"
        try:
            order = parse_int32(member.annotations[key])
        except ValueError as error:
            report(where, f"failed to load Ingress group order: {error}")
            bad = True
            continue
        if not MIN_ORDER <= order <= MAX_ORDER:
            report(where, f"explicit Ingress group order must be within [{MIN_ORDER}:{MAX_ORDER}], order: {order}")
            bad = True
        elif UNIQUE_ORDERS and order in holders:
            report(where, f"conflict Ingress group order: {order} (also Ingress {holders[order].key})")
            bad = True
        holders.setdefault(order, member)
        out.append(Member(member.namespace, member.name, member.annotations, member.spec, order))
    return None if bad else out
