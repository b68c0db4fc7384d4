"""Live changes to a running emulation, kept apart from its topology file.

``dpctl scale``, ``delete pod``, ``set ready|terminating``, ``cordon`` and an
EKS zonal shift change what
the cluster's controllers and kubelets would change, not the manifests, so
they are stored next to the file instead of being written into it.  The
plan of a running emulation is then a pure function of (file, overrides,
previous plan): ``workloads`` applies them, and replaying them gives the
same pods every time.  Keys are ``namespace/name``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .plan import Plan


@dataclass(frozen=True)
class Overrides:
    replicas: dict[str, int] = field(default_factory=dict)  # "ns/deployment" → replica count
    deleted: frozenset[str] = frozenset()  # "ns/pod": deleted pods; their names are never used again
    ready: dict[str, bool] = field(default_factory=dict)  # "ns/pod" → its Ready condition
    terminating: frozenset[str] = frozenset()  # "ns/pod": deletionTimestamp set, still serving
    jobs: dict[str, str] = field(default_factory=dict)  # "ns/job" → "ns/cronjob" it was created from
    # namespace → label → value, or None for "label removed" (``mesh enroll|unenroll``)
    labels: dict[str, dict[str, str | None]] = field(default_factory=dict)
    cordoned: frozenset[str] = frozenset()  # node names (``dpctl cordon``): no new pods, none evicted
    # zones an EKS zonal shift moved the cluster away from: their nodes are
    # cordoned and their pods leave every EndpointSlice until it ends
    shifted_zones: frozenset[str] = frozenset()

    def pruned(self, plan: Plan) -> Overrides:
        """These overrides without the readiness and termination of pods ``plan`` no longer has.

        A Deployment scaled down and up again reuses its freed names; without
        pruning, the new ``web-2`` would inherit the old one's ``ready: false``.
        Deleted names are kept: that is what keeps them from coming back.
        """
        keys = {p.key for p in plan.pods}
        return dataclasses.replace(
            self,
            ready={k: v for k, v in self.ready.items() if k in keys},
            terminating=frozenset(k for k in self.terminating if k in keys),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "replicas": self.replicas,
                "deleted": sorted(self.deleted),
                "ready": self.ready,
                "terminating": sorted(self.terminating),
                "jobs": self.jobs,
                "labels": self.labels,
                "cordoned": sorted(self.cordoned),
                "shifted_zones": sorted(self.shifted_zones),
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Overrides:
        """Read what ``to_json`` wrote; anything else is a ``ValueError``."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("overrides must be a JSON object")  # noqa: TRY004 - one error type for a bad file
        return cls(
            replicas=_mapping(raw, "replicas", int),
            deleted=frozenset(_names(raw, "deleted")),
            ready=_mapping(raw, "ready", bool),
            terminating=frozenset(_names(raw, "terminating")),
            jobs=_mapping(raw, "jobs", str),
            labels=_labels(raw),
            cordoned=frozenset(_names(raw, "cordoned")),
            shifted_zones=frozenset(_names(raw, "shifted_zones")),
        )


def _mapping(raw: dict[str, Any], name: str, kind: type) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, kind) and (kind is bool or not isinstance(v, bool))
        for k, v in value.items()
    ):
        raise ValueError(f"overrides: {name!r} must map names to {kind.__name__} values")
    return dict(value)


def _labels(raw: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    value = raw.get("labels", {})
    valid = isinstance(value, dict) and all(
        isinstance(namespace, str)
        and isinstance(labels, dict)
        and all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in labels.items())
        for namespace, labels in value.items()
    )
    if not valid:
        raise ValueError("overrides: 'labels' must map namespaces to label → value (or null) maps")
    return {namespace: dict(labels) for namespace, labels in value.items()}


def _names(raw: dict[str, Any], name: str) -> list[str]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"overrides: {name!r} must be a list of names")
    return value
