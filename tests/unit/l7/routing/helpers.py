"""Shared by the routing tests: specs written as YAML, and the problems and
warnings a translation reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from dataplane.l7.routing import destinationrule, gateway, istio
from dataplane.l7.routing.model import Attachment, HostPolicy, Request

NS = "default"
REVIEWS = "reviews.default.svc.cluster.local"
V1 = "reviews-v1.default.svc.cluster.local"
V2 = "reviews-v2.default.svc.cluster.local"
SERVICES = frozenset({REVIEWS, V1, V2})


@dataclass
class Feedback:
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def report(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append((path, message))

    @property
    def problem_paths(self) -> list[str]:
        return [path for path, _ in self.problems]

    @property
    def warning_paths(self) -> list[str]:
        return [path for path, _ in self.warnings]


def spec(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def http_route(
    text: str, name: str = "reviews", order: int = 0, namespace: str = NS, feedback: Feedback | None = None
) -> tuple[Attachment, ...]:
    feedback = feedback if feedback is not None else Feedback()
    return gateway.translate(namespace, name, order, spec(text), feedback.report, feedback.warn)


def virtual_service(
    text: str, name: str = "reviews", order: int = 0, namespace: str = NS, feedback: Feedback | None = None
) -> tuple[Attachment, ...]:
    feedback = feedback if feedback is not None else Feedback()
    return istio.translate(namespace, name, order, spec(text), feedback.report, feedback.warn)


def destination_rule(
    text: str, name: str = "reviews", order: int = 0, feedback: Feedback | None = None
) -> HostPolicy | None:
    feedback = feedback if feedback is not None else Feedback()
    return destinationrule.translate(NS, name, order, spec(text), feedback.report, feedback.warn)


def get(path: str = "/", headers: tuple[tuple[str, str], ...] = (), method: str = "GET") -> Request:
    return Request(method, path, "reviews:9080", "http", headers)


PARENT = 'parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]\n'
