"""What every document kind shares: its registration and its metadata.

Kept apart from the kind tables (``kinds``, ``kinds_traffic``) so that each
table imports these helpers instead of the other table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Field, Ignored, Obj, Str, StrMap


@dataclass(frozen=True)
class Kind:
    name: str
    api_version: str
    namespaced: bool
    schema: Field
    also: tuple[str, ...] = ()  # older apiVersions still served, e.g. Istio's v1beta1

    def accepts(self, api_version: str) -> bool:
        return api_version == self.api_version or api_version in self.also


def ignored(*names: str) -> dict[str, Field]:
    return {name: Ignored() for name in names}


SERVER_METADATA = ignored(
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "selfLink",
    "generateName",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def metadata(namespaced: bool, **extra: Field) -> Obj:
    """Object metadata; a namespace on a cluster-scoped object is ignored, as Kubernetes does."""
    fields: dict[str, Field] = {
        "name": Str(),
        "namespace": Str() if namespaced else Ignored(),
        "labels": StrMap(),
        "annotations": StrMap(),
    }
    return Obj(fields | SERVER_METADATA | extra, required=("name",))


def document(metadata: Obj, fields: dict[str, Field], required: tuple[str, ...] = ("metadata",)) -> Obj:
    base: dict[str, Field] = {"apiVersion": Str(), "kind": Str(), "metadata": metadata}
    return Obj(base | fields, required=("apiVersion", "kind", *required))
