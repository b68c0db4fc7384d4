"""Label selectors (``metav1.LabelSelector``): matchLabels and matchExpressions, ANDed.

An empty selector selects everything, as in a NetworkPolicy's ``podSelector:
{}`` (every pod of the namespace) or ``namespaceSelector: {}`` (every
namespace).  Operators: ``In``, ``NotIn`` (also true when the key is
absent), ``Exists``, ``DoesNotExist``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True)
class Expression:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selector:
    labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Expression, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Selector:
        return cls(
            tuple(sorted(spec.get("matchLabels", {}).items())),
            tuple(Expression(e["key"], e["operator"], tuple(e.get("values", ()))) for e in spec.get("matchExpressions", [])),
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.labels) and all(_holds(e, labels) for e in self.expressions)


def _holds(expression: Expression, labels: Mapping[str, str]) -> bool:
    present = expression.key in labels
    if expression.operator == "In":
        return present and labels[expression.key] in expression.values
    if expression.operator == "NotIn":
        return not present or labels[expression.key] not in expression.values
    if expression.operator == "Exists":
        return present
    return not present  # DoesNotExist


def problems(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) of what the API server would refuse in a selector's expressions."""
    found = []
    for i, expression in enumerate(spec.get("matchExpressions", [])):
        at, operator, values = f"matchExpressions[{i}]", expression.get("operator"), expression.get("values", [])
        if operator in ("In", "NotIn") and not values:
            found.append((f"{at}.values", f"must be non-empty when operator is {operator}"))
        if operator in ("Exists", "DoesNotExist") and values:
            found.append((f"{at}.values", f"must be empty when operator is {operator}"))
    return found
