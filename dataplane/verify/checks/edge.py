"""Edge: every ALB listener rule and default, every NLB listener and every ingress gateway route,
from the outside client, for real.

``edgeplan`` says what each request should meet; here each is sent from the
outside client's namespace to the ALB node's public address -- over TLS with
the SNI of its host on HTTPS, trusting the emulated ACM's root -- and judged:
the certificate the handshake presented (by its ARN), the status and
``Location``, and for a forward the pod that answered and what it saw (its
TCP peer, ``X-Forwarded-For``/``-Proto``/``-Port``, ``X-Amzn-Trace-Id``).
Then every A name of the public hosted zones is asked of the outside
client's resolver, as the client would ask it.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dnslib
from cryptography import x509

from dataplane.edge import zonalshift
from dataplane.kernel import netns
from dataplane.lb import acm
from dataplane.route53.answer import OUTSIDE_RESOLVER
from dataplane.route53.records import zones_from_json
from dataplane.state.layout import route53_path, zonal_shifts_path
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan
from dataplane.verify.edgeplan import DnsTrial, EdgeTrial, Unchecked, dns_trials, nlb_trials, plan_edge
from dataplane.verify.evidence import NO_EVIDENCE, Evidence
from dataplane.verify.gatewayplan import gateway_trials
from dataplane.verify.result import CheckResult

NAME = "edge"
TIMEOUT = 5.0


def _request(plan: Plan, trial: EdgeTrial, context: ssl.SSLContext) -> tuple[str | None, int, dict[str, str], bytes]:
    """(the certificate's ARN, status, headers, body) of one request to ``trial``."""
    assert plan.external is not None
    sock = netns.socket_in(plan.external.client_netns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    arn = None
    try:
        sock.connect((trial.address, trial.port))
        if trial.tls:
            sock = context.wrap_socket(sock, server_hostname=trial.host)
            der = sock.getpeercert(binary_form=True)
            arn = acm.arn_of(x509.load_der_x509_certificate(der)) if der else None
        connection = http.client.HTTPConnection(trial.host, timeout=TIMEOUT)
        connection.sock = sock
        connection.request(trial.method, trial.path, headers={"Host": trial.host, **dict(trial.headers)})
        response = connection.getresponse()
        return arn, response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        sock.close()


def judge(plan: Plan, trial: EdgeTrial, arn: str | None, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """What differed from ``trial``'s expectations (nothing: it passed)."""
    assert plan.external is not None
    off = []
    if trial.certificate is not None and arn != trial.certificate:
        off.append(f"certificate {arn}, expected {trial.certificate}")
    if trial.status is not None:
        if status != trial.status:
            off.append(f"status {status}, expected {trial.status}")
        if trial.location is not None and headers.get("location") != trial.location:
            off.append(f"location {headers.get('location')}, expected {trial.location}")
        return off
    try:
        report: dict[str, Any] = json.loads(body)
        pod, seen = f"{report['namespace']}/{report['pod']}", report["headers"]
    except (ValueError, KeyError, TypeError):
        return off + [f"status {status} without a pod's answer, expected one of {', '.join(sorted(trial.pods))}"]
    expected_headers = {
        "x-forwarded-for": plan.external.client_ip,
        "x-forwarded-proto": "https" if trial.tls else "http",
        "x-forwarded-port": str(trial.port),
    }
    if pod not in trial.pods:
        off.append(f"answered by {pod}, expected one of {', '.join(sorted(trial.pods)) or 'no pod'}")
    if report["client"].rsplit(":", 1)[0] not in trial.peers:
        off.append(f"the pod's peer was {report['client']}, expected {' or '.join(sorted(trial.peers))}")
    if trial.balancer == "nlb":  # an NLB forwards bytes: nothing is added to the request
        added = sorted(name for name in (*expected_headers, "x-amzn-trace-id") if name in seen)
        return off + ([f"headers {', '.join(added)} added, but an NLB adds none"] if added else [])
    if trial.balancer == "gateway":  # Envoy: the scheme, the peer appended to X-Forwarded-For, a request id
        proto = "https" if trial.tls else "http"
        if seen.get("x-forwarded-proto") != proto:
            off.append(f"x-forwarded-proto: {seen.get('x-forwarded-proto')}, expected {proto}")
        if not seen.get("x-request-id"):
            off.append("no x-request-id")
        return off
    off += [f"{name}: {seen.get(name)}, expected {value}" for name, value in expected_headers.items()
            if seen.get(name) != value]
    if not str(seen.get("x-amzn-trace-id", "")).startswith("Root=1-"):
        off.append("no X-Amzn-Trace-Id Root")
    return off


def _dns(plan: Plan) -> list[DnsTrial]:
    state = Path(StateDir(plan.name).path)
    try:
        zones = zones_from_json(route53_path(state).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return []
    try:
        shifts = zonalshift.from_json(zonal_shifts_path(state).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        shifts = ()
    return dns_trials(plan, zones, shifts, time.time())


def _resolve(plan: Plan, trial: DnsTrial) -> CheckResult:
    """Ask the outside client's resolver for ``trial.name``, as the client would."""
    assert plan.external is not None
    started = time.monotonic()
    sock = netns.socket_in(plan.external.client_netns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(TIMEOUT)
        sock.sendto(bytes(dnslib.DNSRecord.question(trial.name, "A").pack()), (OUTSIDE_RESOLVER, 53))
        reply = dnslib.DNSRecord.parse(sock.recv(4096))
        got = frozenset(str(rr.rdata) for rr in reply.rr if rr.rtype == dnslib.QTYPE.A)
        off = [] if got == trial.expected else [f"resolved to {', '.join(sorted(got)) or 'nothing'}, "
                                                 f"expected {', '.join(sorted(trial.expected))}"]
        seen = ", ".join(sorted(got)) or dnslib.RCODE.get(reply.header.rcode)
    except (OSError, dnslib.DNSError) as exc:
        off, seen = [f"query failed: {exc}"], "no answer"
    finally:
        sock.close()
    return CheckResult(NAME, trial.subject, not off, "; ".join(off), seen, seconds=round(time.monotonic() - started, 3))


def run(plan: Plan, progress: Callable[[int, int], None] | None = None, evidence: Evidence = NO_EVIDENCE) -> list[CheckResult]:
    planned: list[EdgeTrial | Unchecked | DnsTrial] = [
        *plan_edge(plan), *nlb_trials(plan), *gateway_trials(plan), *_dns(plan),
    ]
    if not planned or plan.external is None:
        return [CheckResult(NAME, NAME, ok=True, skipped=True,
                            reason="skipped: no ALB, NLB or ingress gateway and no public hosted zone")]
    context = ssl.create_default_context(cafile=str(acm.root_path(Path(StateDir(plan.name).path))))
    context.check_hostname = False  # the certificate is judged by its ARN: the default one need not cover the host
    results = []
    for n, item in enumerate(planned, 1):
        if isinstance(item, Unchecked):
            results.append(CheckResult(NAME, item.subject, ok=True, reason=item.reason, skipped=True))
            continue
        if isinstance(item, DnsTrial):
            results.append(_resolve(plan, item))
            continue
        started = time.monotonic()
        try:
            arn, status, headers, body = _request(plan, item, context)
            off = judge(plan, item, arn, status, headers, body)
            seen = f"{status}" + (f" with {arn.rsplit('/', 1)[-1]}" if arn else "")
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            off, seen = [f"request failed: {exc}"], "no answer"
        results.append(CheckResult(NAME, item.subject, not off, "; ".join(off), seen,
                                   seconds=round(time.monotonic() - started, 3)))
        if progress:
            progress(n, len(planned))
    return results
