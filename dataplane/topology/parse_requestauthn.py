"""RequestAuthentication documents -> the JWT rules waypoints apply.

In ambient mode only a waypoint verifies JWTs (ztunnel sees TCP), and a
waypoint applies the RequestAuthentications that name it, or a Service bound
to it, in ``targetRefs`` -- the targets AuthorizationPolicy takes.  One with
a ``selector`` or neither is a sidecar's, which the emulation does not
verify: kept out of the plan with a warning saying so.  The ``jwtRules`` are
checked by the L7 core (``l7.routing.requestauthn``) as a waypoint reads
them, so a key set that is not JSON or has no usable key is a problem with
its field path; the checked spec is what the plan keeps.
"""

from __future__ import annotations

from typing import Any

from ..l7.routing import requestauthn
from .model import Manifest, ObjectRef, Origin
from .parse_policies import policy_targets
from .plan import RequestAuthentication
from .rules import check_name, dns_subdomain
from .schema import compact


def parse_request_authentication(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    name = check_name(dns_subdomain, metadata.get("name"), "metadata.name", origin.report)
    namespace = metadata.get("namespace", "default")
    spec = compact(clean.get("spec", {}))
    key = f"RequestAuthentication {namespace}/{name}"

    def warn(path: str, message: str) -> None:
        manifest.warnings.append(f"{key}: {path}: {message}")

    targets = policy_targets(spec, origin.report)
    requestauthn.translate(spec, origin.report, warn)
    if name is None:
        return
    manifest.objects.append(ObjectRef(origin, "RequestAuthentication", namespace, name))
    if not targets:
        where = "spec.selector" if "selector" in spec else "spec"
        warn(where, "not enforced: in ambient mode only waypoints verify JWTs (ztunnel does not); "
                    "name the waypoint's Gateway or a Service in targetRefs")
        return
    manifest.request_authentications.append(RequestAuthentication(namespace, name, targets, spec))
