"""Shared by the edge tests: Ingresses written as YAML specs, and the
problems and warnings a translation reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from dataplane.edge import ingress
from dataplane.edge.albmodel import Alb, Listener

P = "alb.ingress.kubernetes.io/"
CLASSES = {"alb": "ingress.k8s.aws/alb", "nginx": "k8s.io/ingress-nginx"}


@dataclass
class Feedback:
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def report(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append((path, message))


def ing(
    name: str, spec: str = "", namespace: str = "shop", cls: str | None = "alb", **annotations: str
) -> dict[str, Any]:
    """An Ingress as a dict; ``annotations`` are ALB annotation suffixes
    written with '_' for '-' (``listen_ports``) and for '.' after ``group``."""
    body: dict[str, Any] = yaml.safe_load(spec) or {}
    if cls is not None:
        body.setdefault("ingressClassName", cls)
    keys = {P + _suffix(key): value for key, value in annotations.items()}
    return {"namespace": namespace, "name": name, "annotations": keys, "spec": body}


def _suffix(key: str) -> str:
    return "group." + key[len("group_"):] if key.startswith("group_") else key.replace("_", "-")


def translate(
    *ingresses: dict[str, Any],
    feedback: Feedback | None = None,
    services: dict[tuple[str, str], dict[str, str]] | None = None,
) -> tuple[Alb, ...]:
    feedback = feedback if feedback is not None else Feedback()
    return ingress.translate(list(ingresses), CLASSES, feedback.report, feedback.warn, services)


def one(*ingresses: dict[str, Any], services: dict[tuple[str, str], dict[str, str]] | None = None) -> Alb:
    """The single ALB of a translation that must report nothing."""
    feedback = Feedback()
    albs = translate(*ingresses, feedback=feedback, services=services)
    assert feedback.problems == [], feedback.problems
    (alb,) = albs
    return alb


def failed(*ingresses: dict[str, Any]) -> list[tuple[str, str]]:
    """The problems of a translation that must yield no ALB."""
    feedback = Feedback()
    assert translate(*ingresses, feedback=feedback) == ()
    assert feedback.problems
    return feedback.problems


def listener(alb: Alb, port: int) -> Listener:
    (found,) = [entry for entry in alb.listeners if entry.port == port]
    return found


def backend(service: str, port: int | str = 80) -> str:
    """YAML for an Ingress backend."""
    key = "number" if isinstance(port, int) else "name"
    return f"{{service: {{name: {service}, port: {{{key}: {port}}}}}}}"
