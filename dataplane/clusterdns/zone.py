"""The cluster zone: every name the cluster DNS answers, built from a Plan.

The records are those of the Kubernetes DNS-Based Service Discovery
specification, version 1.1.0 (kubernetes/dns, ``docs/specification.md``), as
CoreDNS's ``kubernetes`` plugin serves them with the Corefile kubeadm and EKS
install:

* ``<svc>.<ns>.svc.<domain>``: A → the ClusterIP; for a headless Service, A →
  each ready endpoint (no name at all while it has none, as CoreDNS answers
  NXDOMAIN then); for an ExternalName Service, CNAME → the external name.
* ``<endpoint>.<svc>.<ns>.svc.<domain>`` A for each ready endpoint of a
  headless Service.  ``<endpoint>`` is the endpoint's address with dashes
  (``10-0-1-5``), the name CoreDNS gives an endpoint without a hostname; an
  endpoint has a hostname when its pod's subdomain is the Service's name (a
  StatefulSet's pods with its ``serviceName``, or a pod setting ``subdomain``),
  and is then ``<hostname>.<svc>.<ns>.svc.<domain>``.
* ``_<port>._<proto>.<svc>.<ns>.svc.<domain>`` SRV for every *named* port:
  the service port with the service name as target, or for a headless
  Service one record per ready endpoint exposing the port, with the
  endpoint's own (target) port and name.  Priority 0 and weights sharing 100
  equally, as CoreDNS computes them.
* PTR ``<reversed address>.in-addr.arpa`` for every ClusterIP (→ the service
  name) and every headless endpoint (→ the endpoint name).
* ``<a-b-c-d>.<ns>.pod.<domain>`` A for every pod of the plan.  That is
  CoreDNS's ``pods verified``; kubeadm's ``pods insecure`` would also answer
  an address no pod has, which only hides mistakes in an emulation.
* the apex's SOA and NS ``ns.dns.<domain>`` (A → the kube-dns address), and
  ``dns-version.<domain>`` TXT ``1.1.0``, which the specification asks for.

Every namespace's ``<ns>.svc`` and ``<ns>.pod`` exists even without records
(an empty non-terminal answers NODATA, not NXDOMAIN), as in CoreDNS.

Endpoints are chosen as the EndpointSlice controller does: pods of the
Service's namespace whose labels include its (non-empty) selector, ready when
the pod is ready and not terminating, or always with
``publishNotReadyAddresses``.  Only ready endpoints are published in DNS.

Every record has a TTL of 5 s, the ``kubernetes`` plugin's default (its
``ttl`` option): short enough that a client sees a scaled or relabelled
Service almost at once, which the live changes of dpctl rely on.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Address

from dataplane.topology import endpoints
from dataplane.topology.plan import Plan, Pod, Service, ServicePort

TTL = 5
SPEC_VERSION = "1.1.0"
# SOA timers of CoreDNS's kubernetes plugin; nobody transfers this zone, they are for show.
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE = 7200, 1800, 86400


@dataclass(frozen=True)
class A:
    address: str


@dataclass(frozen=True)
class CNAME:
    target: str


@dataclass(frozen=True)
class PTR:
    target: str


@dataclass(frozen=True)
class SRV:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class TXT:
    text: str


@dataclass(frozen=True)
class NS:
    target: str


@dataclass(frozen=True)
class SOA:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


Rdata = A | CNAME | PTR | SRV | TXT | NS | SOA


@dataclass(frozen=True)
class Zone:
    """The records of one plan, by lower-case owner name without the final dot."""

    domain: str
    records: Mapping[str, tuple[Rdata, ...]]
    names: frozenset[str]  # every name that exists in the domain, empty non-terminals included
    ttl: int = TTL

    def is_authoritative(self, name: str) -> bool:
        """Whether this zone answers for ``name``: the cluster domain, and the
        reverse names of the cluster's own addresses.  Anything else would go
        upstream in a real cluster."""
        return name == self.domain or name.endswith("." + self.domain) or name in self.records

    def exists(self, name: str) -> bool:
        return name in self.names or name in self.records

    @property
    def soa(self) -> SOA:
        return next(r for r in self.records[self.domain] if isinstance(r, SOA))


def build_zone(plan: Plan) -> Zone:
    """The cluster zone for ``plan``: a pure function of the plan, so every agent builds the same one."""
    domain = plan.cluster_domain.lower()
    records: defaultdict[str, list[Rdata]] = defaultdict(list)
    records[f"ns.dns.{domain}"].append(A(plan.dns_ip))
    records[f"dns-version.{domain}"].append(TXT(SPEC_VERSION))
    for pod in plan.pods:
        records[f"{_dashed(pod.ip)}.{pod.namespace}.pod.{domain}"].append(A(pod.ip))
    index = endpoints.PodIndex(plan.pods)
    for service in plan.services:
        _add_service(records, service, _ready_pods(plan, service, index), domain)
    frozen = {name: _with_srv_weights(rdata) for name, rdata in records.items()}
    frozen[domain] = (_soa(domain, frozen), NS(f"ns.dns.{domain}"))
    namespaces = [f"{ns.name}.{kind}.{domain}" for ns in plan.namespaces for kind in ("svc", "pod")]
    names = {domain, *(ancestor for name in (*frozen, *namespaces) for ancestor in _within(name, domain))}
    return Zone(domain=domain, records=frozen, names=frozenset(names))


def _add_service(records: defaultdict[str, list[Rdata]], service: Service, ready: list[Pod], domain: str) -> None:
    """The records of one Service; ``ready`` are the pods an EndpointSlice lists as ready for it."""
    fqdn = f"{service.name}.{service.namespace}.svc.{domain}"
    if service.external_name is not None:
        records[fqdn].append(CNAME(service.external_name.lower()))
    elif service.headless:
        for pod in ready:
            label = pod.hostname if pod.subdomain == service.name and pod.hostname else _dashed(pod.ip)
            endpoint = f"{label.lower()}.{fqdn}"
            records[fqdn].append(A(pod.ip))
            records[endpoint].append(A(pod.ip))
            records[_reverse(pod.ip)].append(PTR(endpoint))
            for port in service.ports:
                target = endpoints.target_port(port, pod)
                if port.name and target is not None:
                    records[_srv_name(port, fqdn)].append(SRV(0, 0, target, endpoint))
    elif service.cluster_ip is not None:
        records[fqdn].append(A(service.cluster_ip))
        records[_reverse(service.cluster_ip)].append(PTR(fqdn))
        for port in service.ports:
            if port.name:
                records[_srv_name(port, fqdn)].append(SRV(0, 0, port.port, fqdn))


def _ready_pods(plan: Plan, service: Service, index: endpoints.PodIndex) -> list[Pod]:
    """The pods an EndpointSlice would list as ready for ``service`` (all of
    them with publishNotReadyAddresses), selected as kube-proxy selects them."""
    return [
        pod
        for pod in endpoints.selected_pods(plan, service, index)
        if service.publish_not_ready_addresses or (pod.ready and not pod.terminating)
    ]


def _with_srv_weights(rdata: list[Rdata]) -> tuple[Rdata, ...]:
    """Give the SRV records of one name equal weights adding up to about 100, as CoreDNS does."""
    srvs = sum(isinstance(r, SRV) for r in rdata)
    return tuple(replace(r, weight=100 // srvs) if isinstance(r, SRV) else r for r in rdata)


def _soa(domain: str, records: Mapping[str, tuple[Rdata, ...]]) -> SOA:
    """The apex SOA.  Its serial is a digest of the records, so it changes exactly when the zone does
    and the same plan always yields the same zone (CoreDNS uses the time of the last change)."""
    digest = hashlib.sha256(repr(sorted(records.items())).encode()).digest()
    serial = int.from_bytes(digest[:4], "big")
    return SOA(f"ns.dns.{domain}", f"hostmaster.{domain}", serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, TTL)


def _within(name: str, domain: str) -> list[str]:
    """``name`` and its ancestors down to ``domain``; nothing for a name outside it (reverse names)."""
    if not name.endswith("." + domain):
        return []
    labels = name.removesuffix("." + domain).split(".")
    return [".".join((*labels[i:], domain)) for i in range(len(labels))]


def _srv_name(port: ServicePort, fqdn: str) -> str:
    return f"_{port.name}._{port.protocol.lower()}.{fqdn}"


def _dashed(ip: str) -> str:
    return ip.replace(".", "-")


def _reverse(ip: str) -> str:
    return IPv4Address(ip).reverse_pointer
