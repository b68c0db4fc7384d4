"""What the AWS Load Balancer Controller builds for a LoadBalancer Service: an NLB (``aws-edge.md`` §1.8, §1.9).

A Service is the controller's when ``spec.loadBalancerClass`` is
``service.k8s.aws/nlb`` or ``service.beta.kubernetes.io/aws-load-balancer-type``
is ``external`` (legacy ``nlb-ip``: external with ip targets); any other
LoadBalancer Service is the in-tree cloud provider's and keeps the
emulation's plain load balancer.  The annotations read, with the reference's
defaults:

* ``aws-load-balancer-nlb-target-type``: ``instance`` (default, as with the
  loadBalancerClass webhook) or ``ip``;
* ``aws-load-balancer-scheme``: ``internal`` (default) or ``internet-facing``;
* cross-zone load balancing off unless ``aws-load-balancer-attributes`` says
  ``load_balancing.cross_zone.enabled=true`` (or the deprecated
  ``aws-load-balancer-cross-zone-load-balancing-enabled: "true"``);
* client IP preservation (``aws-load-balancer-target-group-attributes``
  ``preserve_client_ip.enabled``): on for instance targets, off for ip
  targets on TCP, always on for ip targets on UDP;
* ``aws-load-balancer-proxy-protocol: "*"``: PROXY v2 before the bytes;
* ``aws-load-balancer-ssl-cert`` (ARNs, the first the default) with
  ``aws-load-balancer-ssl-ports`` (numbers or names; without it every port)
  makes TLS listeners; ``aws-load-balancer-backend-protocol`` ``tcp``
  (default: plaintext to targets) or ``ssl`` (re-encrypted, not verified).

A bad value is the controller's reconcile error: ``read`` reports it under
the annotation's field path and returns None, and no NLB is built.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from .annotations import field, parse_list, parse_map

Report = Callable[[str, str], None]

PREFIX = "service.beta.kubernetes.io/"
NLB_CLASS = "service.k8s.aws/nlb"
TYPE = PREFIX + "aws-load-balancer-type"
TARGET_TYPE = PREFIX + "aws-load-balancer-nlb-target-type"
SCHEME = PREFIX + "aws-load-balancer-scheme"
ATTRIBUTES = PREFIX + "aws-load-balancer-attributes"
CROSS_ZONE = PREFIX + "aws-load-balancer-cross-zone-load-balancing-enabled"
TG_ATTRIBUTES = PREFIX + "aws-load-balancer-target-group-attributes"
PROXY_PROTOCOL = PREFIX + "aws-load-balancer-proxy-protocol"
SSL_CERT = PREFIX + "aws-load-balancer-ssl-cert"
SSL_PORTS = PREFIX + "aws-load-balancer-ssl-ports"
BACKEND_PROTOCOL = PREFIX + "aws-load-balancer-backend-protocol"

_CROSS_ZONE_ATTRIBUTE = "load_balancing.cross_zone.enabled"
_PRESERVE_ATTRIBUTE = "preserve_client_ip.enabled"


@dataclass(frozen=True)
class ServicePortRef:
    """What the annotations may name of a Service port."""

    port: int
    protocol: str  # TCP | UDP | SCTP
    name: str | None = None


@dataclass(frozen=True)
class Nlb:
    """The NLB of one Service, as the controller's model has it."""

    target_type: str  # instance | ip
    scheme: str  # internal | internet-facing
    cross_zone: bool
    preserve_client_ip: bool | None  # None: the target type's default (see ``preserves``)
    proxy_protocol: bool
    certificates: tuple[str, ...] = ()  # ACM ARNs of the TLS listeners, the first the default
    tls_ports: tuple[int, ...] = ()  # Service ports whose listener is TLS
    backend_tls: bool = False  # backend-protocol ssl: re-encrypt to the targets

    def preserves(self, protocol: str) -> bool:
        """Whether targets see the client's address (TCP/TLS ip targets: off unless set; UDP: always)."""
        if self.target_type == "ip" and protocol == "UDP":
            return True
        if self.preserve_client_ip is not None:
            return self.preserve_client_ip
        return self.target_type == "instance"

    def terminates(self, port: int) -> bool:
        return port in self.tls_ports

    def in_userspace(self, port: int) -> bool:
        """A listener the kernel cannot serve (TLS termination, PROXY v2): the edge agent proxies it."""
        return self.terminates(port) or self.proxy_protocol


def is_aws_nlb(annotations: Mapping[str, str], load_balancer_class: str | None) -> bool:
    """Whether the AWS Load Balancer Controller, not the in-tree provider, serves this LoadBalancer Service."""
    return load_balancer_class == NLB_CLASS or annotations.get(TYPE) in ("external", "nlb-ip")


def read(
    annotations: Mapping[str, str], ports: Sequence[ServicePortRef], certificates: Collection[str], report: Report,
) -> Nlb | None:
    """The NLB the annotations ask for, or None after reporting what the controller would refuse."""
    said: list[str] = []

    def bad(key: str, message: str) -> None:
        said.append(key)
        report(field(key), message)

    legacy_ip = annotations.get(TYPE) == "nlb-ip"
    target_type = _choice(annotations, TARGET_TYPE, ("instance", "ip"), "ip" if legacy_ip else "instance", bad)
    scheme = _choice(annotations, SCHEME, ("internal", "internet-facing"), "internal", bad)
    backend = _choice(annotations, BACKEND_PROTOCOL, ("tcp", "ssl"), "tcp", bad)
    cross_zone = _cross_zone(annotations, bad)
    preserve = _attribute(annotations, TG_ATTRIBUTES, _PRESERVE_ATTRIBUTE, bad)
    proxy = annotations.get(PROXY_PROTOCOL)
    if proxy is not None and proxy != "*":
        bad(PROXY_PROTOCOL, f'expected "*" (PROXY v2 on every target group), got {proxy!r}')
    arns = tuple(parse_list(annotations.get(SSL_CERT, "")))
    for arn in arns:
        if arn not in certificates:
            bad(SSL_CERT, f"{arn} is no certificate of the emulated ACM (spec.certificates)")
    tls_ports = _tls_ports(annotations, ports, bad) if arns else ()
    tls_udp = [p.port for p in ports if p.port in tls_ports and p.protocol != "TCP"]
    if tls_udp:
        bad(SSL_PORTS, f"port {tls_udp[0]} is not TCP: a TLS listener needs TCP")
    if said:
        return None
    return Nlb(target_type, scheme, cross_zone, preserve, proxy == "*", arns, tls_ports, backend == "ssl")


def _choice(annotations: Mapping[str, str], key: str, allowed: tuple[str, ...], default: str, bad: Report) -> str:
    value = annotations.get(key, default)
    if value not in allowed:
        bad(key, f"expected {' or '.join(allowed)}, got {value!r}")
        return default
    return value


def _cross_zone(annotations: Mapping[str, str], bad: Report) -> bool:
    """The attribute wins over the deprecated annotation when both are given (the controller merges them so)."""
    enabled = _attribute(annotations, ATTRIBUTES, _CROSS_ZONE_ATTRIBUTE, bad)
    if enabled is not None:
        return enabled
    legacy = annotations.get(CROSS_ZONE)
    if legacy is None:
        return False
    if legacy not in ("true", "false"):
        bad(CROSS_ZONE, f"expected true or false, got {legacy!r}")
        return False
    return legacy == "true"


def _attribute(annotations: Mapping[str, str], key: str, name: str, bad: Report) -> bool | None:
    """One boolean ``name=true|false`` out of a ``k=v,k=v`` attributes annotation (others are not emulated)."""
    text = annotations.get(key)
    if text is None:
        return None
    try:
        values = parse_map(text)
    except ValueError as exc:
        bad(key, str(exc))
        return None
    value = values.get(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        bad(key, f"{name}: expected true or false, got {value!r}")
        return None
    return value == "true"


def _tls_ports(annotations: Mapping[str, str], ports: Sequence[ServicePortRef], bad: Report) -> tuple[int, ...]:
    """The ports ``ssl-ports`` names (numbers or port names, ``*`` or absent: all of them)."""
    listed = parse_list(annotations.get(SSL_PORTS, "*"))
    if "*" in listed:
        return tuple(p.port for p in ports)
    chosen = []
    for item in listed:
        match = [p.port for p in ports if str(p.port) == item or p.name == item]
        if not match:
            bad(SSL_PORTS, f"{item!r} names no port of the Service")
        chosen += match
    return tuple(dict.fromkeys(chosen))
