"""What a target group registers from the plan, and where each target's health check goes.

``ip`` targets are the ready pod endpoints of the Service port, ``instance``
targets every node's NodePort of it (``aws-edge.md`` §1.4).  A health check
goes to the target's own port (``traffic-port``), a number, or a Service
port named in ``healthcheck-port``, resolved as the LBC does: its NodePort
for ``instance``, its numeric targetPort for ``ip``.  A name that resolves
to nothing (the LBC would refuse to build the group) leaves the targets
without a check address: their checks fail, and the group fails open.
"""

from __future__ import annotations

from dataplane.edge.albmodel import TRAFFIC_PORT, TargetGroup
from dataplane.topology.endpoints import PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Service, ServicePort

Address = tuple[str, int]


def registered(plan: Plan, group: TargetGroup) -> dict[Address, Address | None]:
    """The group's targets, each with the address its health check goes to (None: nowhere)."""
    service = next((s for s in plan.services if (s.namespace, s.name) == (group.namespace, group.service)), None)
    port = _service_port(service, group.port) if service is not None else None
    if service is None or port is None:
        return {}
    if group.target_type == "instance":
        targets = tuple((n.ip, port.node_port) for n in plan.nodes) if port.node_port else ()
    else:
        entry = next(e for e in service_port_endpoints(plan, service, PodIndex(plan.pods)) if e.port == port)
        targets = tuple((e.ip, e.port) for e in entry.endpoints if e.ready)
    checked = _check_port(service, group)
    if checked == TRAFFIC_PORT:
        return {target: target for target in targets}
    return {target: None if checked is None else (target[0], int(checked)) for target in targets}


def _service_port(service: Service, wanted: int | str) -> ServicePort | None:
    for port in service.ports:
        if port.protocol == "TCP" and (port.port == wanted or port.name == wanted):
            return port
    return None


def _check_port(service: Service, group: TargetGroup) -> int | str | None:
    """``traffic-port``, the port number checks go to, or None if a named port resolves to none."""
    wanted = group.health.port
    if wanted == TRAFFIC_PORT or isinstance(wanted, int):
        return wanted
    named = next((p for p in service.ports if p.name == wanted), None)
    if named is None:
        return None
    if group.target_type == "instance":
        return named.node_port
    target = named.port if named.target_port is None else named.target_port
    return target if isinstance(target, int) else None
