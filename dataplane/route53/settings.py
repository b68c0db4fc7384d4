"""An ExternalDNS container's arguments -> what that ExternalDNS does.

ExternalDNS is configured by its command line (kingpin flags, ``--flag=value``
or ``--flag value``, a repeatable flag once per value) and exits at start-up
on a flag it does not know or a value it cannot use; so does the emulation:
such a problem is a warning naming the argument, and that ExternalDNS
manages nothing (``Settings.runs`` is False).  Per v0.22.0 (``aws-edge.md``
§3) ``--policy`` is required, and ``--annotation-prefix`` chooses which of
``external-dns.kubernetes.io/`` (the default) and the older
``external-dns.alpha.kubernetes.io/`` the sources read.

``--interval`` is checked and kept, but a reconcile runs on every change of
the emulation instead (as ``--events`` would, without waiting): between
changes nothing a source reads can change.  Flags that only tune logging,
metrics, caching, batching or credentials are accepted and have no effect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

GA_PREFIX = "external-dns.kubernetes.io/"
ALPHA_PREFIX = "external-dns.alpha.kubernetes.io/"
POLICIES = ("sync", "upsert-only", "create-only")
EMULATED_SOURCES = ("service", "ingress", "gateway-httproute", "gateway-grpcroute")
GATEWAY_SOURCES = tuple(f"gateway-{k}route" for k in ("tls", "tcp", "udp"))
OTHER_SOURCES = (
    "node", "pod", "crd", "istio-gateway", "istio-virtualservice", "contour-httpproxy", "openshift-route",
    "fake", "connector", "ambassador-host", "kong-tcpingress", "traefik-proxy", "skipper-routegroup",
    "gloo-proxy", "cloudfoundry", "f5-virtualserver", "f5-transportserver", "dnsendpoint",
)
ZONE_TYPES = ("", "public", "private")

_VALUED = (
    "source", "domain-filter", "exclude-domains", "policy", "registry", "txt-owner-id", "txt-prefix",
    "txt-suffix", "annotation-prefix", "interval", "aws-zone-type", "provider", "namespace",
    "managed-record-types",
)
_BOOLEAN = ("aws-prefer-cname", "aws-evaluate-target-health", "dry-run", "once", "events")
_NO_EFFECT = (  # valued flags that change nothing the emulation shows
    "log-level", "log-format", "metrics-address", "min-event-sync-interval", "aws-batch-change-size",
    "aws-batch-change-interval", "aws-batch-change-size-bytes", "aws-batch-change-size-values", "aws-assume-role",
    "aws-assume-role-external-id", "aws-api-retries", "aws-profile", "aws-zones-cache-duration", "txt-cache-interval",
    "request-timeout", "kubeconfig", "master", "label-filter", "zone-id-filter", "aws-zone-tags", "txt-wildcard-replacement",
    "ingress-class", "txt-new-format-only",
)
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+|0")

Report = Callable[[int | None, str], None]  # (argument index or None for the whole list, message)


@dataclass(frozen=True)
class Settings:
    """What one ExternalDNS does, from its arguments (defaults as in v0.22.0)."""

    sources: tuple[str, ...] = ()
    domain_filters: tuple[str, ...] = ()
    exclude_domains: tuple[str, ...] = ()
    policy: str = ""  # "" when --policy is missing: v0.22.0 refuses to start
    owner_id: str = "default"
    txt_prefix: str = ""
    txt_suffix: str = ""
    annotation_prefix: str = GA_PREFIX
    interval: str = "1m"
    zone_type: str = ""  # --aws-zone-type: "" (both), public or private
    prefer_cname: bool = False
    evaluate_target_health: bool = True
    namespace: str = ""  # --namespace: "" watches every namespace
    dry_run: bool = False
    runs: bool = True  # False: ExternalDNS exits at start-up (a bad flag or value), so it changes nothing

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**fields)

    def wants(self, name: str) -> bool:
        """Whether ``name`` passes ``--domain-filter`` and ``--exclude-domains``."""
        def under(domain: str) -> bool:
            return name == domain or name.endswith("." + domain)

        allowed = not self.domain_filters or any(under(d) for d in self.domain_filters)
        return allowed and not any(under(d) for d in self.exclude_domains)


def parse_args(args: Sequence[str], report: Report) -> Settings:
    """The settings ``args`` give; every problem is reported with the index of its argument."""
    values: dict[str, list[tuple[int, str]]] = {}
    flags: dict[str, bool] = {}
    fatal = False

    def fail(index: int | None, message: str) -> None:
        nonlocal fatal
        fatal = True
        report(index, f"{message}: ExternalDNS exits at start-up and manages no record")

    i = 0
    while i < len(args):
        arg, index = args[i], i
        i += 1
        if not arg.startswith("--"):
            fail(index, f"unexpected argument {arg!r}")
            continue
        name, equals, value = arg[2:].partition("=")
        if name in _BOOLEAN or (name.startswith("no-") and name[3:] in _BOOLEAN):
            if equals and value not in ("true", "false"):
                fail(index, f"--{name} takes true or false, got {value!r}")
            flags[name.removeprefix("no-")] = not name.startswith("no-") and value != "false"
            continue
        if name not in _VALUED and name not in _NO_EFFECT:
            fail(index, f"unknown flag --{name}")
            continue
        if not equals:
            if i >= len(args):
                fail(index, f"--{name} needs a value")
                continue
            value, i = args[i], i + 1
        values.setdefault(name, []).append((index, value))

    def one(name: str, default: str) -> tuple[int | None, str]:
        given = values.get(name, [])
        return given[-1] if given else (None, default)

    def many(name: str) -> tuple[str, ...]:
        return tuple(p.strip().lower().rstrip(".") for _, v in values.get(name, []) for p in v.split(",") if p.strip())

    for index, source in values.get("source", []):
        if source in GATEWAY_SOURCES:
            report(index, f"source {source}: dpctl serves no Gateway listener for these routes (TLSRoutes only"
                          " at istio gateways, which ExternalDNS reads as gateway-httproute names), so it makes no record")
        elif source in OTHER_SOURCES:
            report(index, f"source {source} is not emulated: it makes no record")
        elif source not in EMULATED_SOURCES:
            fail(index, f"unknown source {source!r}")
    if "source" not in values:
        fail(None, "no --source: ExternalDNS needs at least one")
    policy_index, policy = one("policy", "")
    if policy_index is None:
        fail(None, "no --policy (sync, upsert-only or create-only): ExternalDNS v0.22.0 requires it")
    elif policy not in POLICIES:
        fail(policy_index, f"--policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    registry_index, registry = one("registry", "txt")
    if registry != "txt":
        fail(registry_index, f"--registry={registry} is not emulated (only txt, the default)")
    provider_index, provider = one("provider", "aws")
    if provider != "aws":
        fail(provider_index, f"--provider={provider} is not emulated (only aws: Route 53)")
    prefix_index, prefix = one("txt-prefix", "")
    suffix_index, suffix = one("txt-suffix", "")
    if prefix and suffix:
        fail(suffix_index, "--txt-prefix and --txt-suffix are mutually exclusive")
    annotation_index, annotation_prefix = one("annotation-prefix", GA_PREFIX)
    if not annotation_prefix.endswith("/"):
        fail(annotation_index, f"--annotation-prefix must end with '/', got {annotation_prefix!r}")
    interval_index, interval = one("interval", "1m")
    if not _DURATION.fullmatch(interval):
        fail(interval_index, f"--interval takes a duration such as 1m or 30s, got {interval!r}")
    zone_index, zone_type = one("aws-zone-type", "")
    if zone_type not in ZONE_TYPES:
        fail(zone_index, f"--aws-zone-type must be public or private, got {zone_type!r}")
    types_index, types = one("managed-record-types", "A,AAAA,CNAME")
    if not {t.strip().upper() for t in types.split(",")} <= {"A", "AAAA", "CNAME", "TXT", "NS", "MX", "SRV"}:
        fail(types_index, f"--managed-record-types: unknown record type in {types!r}")
    owner = one("txt-owner-id", "default")[1]
    return Settings(
        sources=tuple(s for _, s in values.get("source", []) if s in EMULATED_SOURCES),
        domain_filters=many("domain-filter"),
        exclude_domains=many("exclude-domains"),
        policy=policy,
        owner_id=owner,
        txt_prefix=prefix,
        txt_suffix=suffix,
        annotation_prefix=annotation_prefix,
        interval=interval,
        zone_type=zone_type,
        prefer_cname=flags.get("aws-prefer-cname", False),
        evaluate_target_health=flags.get("aws-evaluate-target-health", True),
        namespace=one("namespace", "")[1],
        dry_run=flags.get("dry-run", False),
        runs=not fatal,
    )
