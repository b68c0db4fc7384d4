"""External authorization over HTTP, as Envoy's ext_authz filter does it for Istio.

An ``AuthorizationPolicy`` with ``action: CUSTOM`` names a provider from
``meshConfig.extensionProviders``; its rules only decide whether the
provider is asked (``waypoint-l7.md`` §4.2).  This module is the pure half:
it reads a provider as istiod does (``envoyExtAuthzHttp``, with Istio's
defaults), builds the check request Envoy's HTTP client sends, and turns the
authorizer's answer -- or its silence -- into a decision:

* the check request has the original method, ``pathPrefix`` + the original
  path and query, the original Host, ``content-length: 0`` and no body
  (unless ``includeRequestBodyInCheck``), and only ``authorization``, the
  headers ``includeRequestHeadersInCheck`` lists and the fixed
  ``includeAdditionalHeadersInCheck`` ones;
* ``200`` allows: ``headersToUpstreamOnAllow`` matches overwrite the
  upstream request's, ``headersToDownstreamOnAllow`` matches go to the client;
* another status below 500 denies with the authorizer's status and body, and
  its headers (``headersToDownstreamOnDeny`` matches, or all but Host when
  that is unset);
* 5xx, a timeout or an unreachable authorizer answer ``statusOnError``
  (403) with an empty body, unless ``failOpen`` lets the request through.

Denials are flagged ``UAEX``.  Header patterns are Istio's: exact, ``x-*``
(prefix), ``*-x`` (suffix) or ``*``, case-insensitive.  ``envoyExtAuthzGrpc``
is refused with a reason: the emulation's authorizers speak HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Headers, Report, Request
from .replies import LocalReply
from .values import istio_duration

DEFAULT_TIMEOUT = 600.0  # EnvoyExternalAuthorizationHttpProvider.timeout
DEFAULT_STATUS_ON_ERROR = 403
ALWAYS_SENT = ("authorization",)  # besides Host, method and path, which the request line carries
_NOT_COPIED = ("host", "content-length", "transfer-encoding", "connection", "keep-alive", "date", "server")
_PROVIDER_FIELDS = (
    "service", "port", "timeout", "pathPrefix", "failOpen", "statusOnError", "includeRequestHeadersInCheck",
    "includeAdditionalHeadersInCheck", "includeRequestBodyInCheck", "headersToUpstreamOnAllow",
    "headersToDownstreamOnAllow", "headersToDownstreamOnDeny", "includeHeadersInCheck",
)


@dataclass(frozen=True)
class BodyInCheck:
    max_request_bytes: int
    allow_partial_message: bool


@dataclass(frozen=True)
class Provider:
    """One ``envoyExtAuthzHttp`` extension provider."""

    name: str
    service: str  # the authorizer's host as written, without a ``<namespace>/`` qualifier
    port: int
    timeout: float = DEFAULT_TIMEOUT
    path_prefix: str = ""
    fail_open: bool = False
    status_on_error: int = DEFAULT_STATUS_ON_ERROR
    include_request_headers: tuple[str, ...] = ()
    additional_headers: Headers = ()
    body: BodyInCheck | None = None
    to_upstream_on_allow: tuple[str, ...] = ()
    to_downstream_on_allow: tuple[str, ...] = ()
    to_downstream_on_deny: tuple[str, ...] | None = None  # None: every header but Host


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reply: LocalReply | None = None  # the denial to send back
    upstream_headers: Headers = ()  # to set on the request that goes on
    downstream_headers: Headers = ()  # to add to the response the client gets


def providers(mesh_config: dict[str, Any], report: Report) -> dict[str, Provider]:
    """Every usable HTTP provider of ``meshConfig.extensionProviders``, by name;
    problems are reported with field paths under ``spec.meshConfig``."""
    found: dict[str, Provider] = {}
    names: set[str] = set()
    for i, raw in enumerate(mesh_config.get("extensionProviders", ())):
        path = f"spec.meshConfig.extensionProviders[{i}]"
        name = raw.get("name")
        if name in names:
            report(f"{path}.name", f"provider {name!r} is declared twice")
            continue
        names.add(name)
        if "envoyExtAuthzHttp" in raw:
            provider = _http_provider(name, raw["envoyExtAuthzHttp"], f"{path}.envoyExtAuthzHttp", report)
            if provider is not None:
                found[name] = provider
        elif "envoyExtAuthzGrpc" in raw:
            report(f"{path}.envoyExtAuthzGrpc", "gRPC authorizers are not emulated; use envoyExtAuthzHttp")
        else:
            report(path, "give envoyExtAuthzHttp (the only provider type the emulation runs)")
    return found


def _http_provider(name: str, raw: dict[str, Any], path: str, report: Report) -> Provider | None:
    ok = True

    def bad(field: str, message: str) -> None:
        nonlocal ok
        ok = False
        report(f"{path}.{field}", message)

    service = raw.get("service", "")  # a missing service or port was reported by the schema
    if service == "" and "service" in raw:
        bad("service", "the authorizer's Service host is required, e.g. ext-authz.foo.svc.cluster.local")
    port = _port(raw.get("port"))
    if port is None and "port" in raw:
        bad("port", f"expected a port number (1-65535), got {raw.get('port')!r}")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in raw:
        try:
            timeout = istio_duration(str(raw["timeout"]))
        except ValueError as exc:
            bad("timeout", str(exc))
    status_text = str(raw.get("statusOnError", DEFAULT_STATUS_ON_ERROR))
    if not status_text.isdigit() or not 200 <= int(status_text) <= 599:
        bad("statusOnError", f"expected an HTTP status code, got {status_text!r}")
        status_text = str(DEFAULT_STATUS_ON_ERROR)
    prefix = raw.get("pathPrefix", "")
    if prefix and not prefix.startswith("/"):
        bad("pathPrefix", f"must start with '/', got {prefix!r}")
    body = raw.get("includeRequestBodyInCheck")
    if not ok or port is None or not service:
        return None
    deny = raw.get("headersToDownstreamOnDeny")
    return Provider(
        name=name,
        service=service.split("/", 1)[-1].lower(),
        port=port,
        timeout=timeout,
        path_prefix=prefix,
        fail_open=bool(raw.get("failOpen", False)),
        status_on_error=int(status_text),
        include_request_headers=_patterns(
            [*raw.get("includeRequestHeadersInCheck", ()), *raw.get("includeHeadersInCheck", ())]
        ),
        additional_headers=tuple((k.lower(), str(v)) for k, v in raw.get("includeAdditionalHeadersInCheck", {}).items()),
        body=None if body is None else BodyInCheck(
            int(body.get("maxRequestBytes", 0)) or 2**32 - 1, bool(body.get("allowPartialMessage", False))
        ),
        to_upstream_on_allow=_patterns(raw.get("headersToUpstreamOnAllow", ())),
        to_downstream_on_allow=_patterns(raw.get("headersToDownstreamOnAllow", ())),
        to_downstream_on_deny=None if deny is None else _patterns(deny),
    )


def _port(value: Any) -> int | None:
    """Istio's examples write the port quoted (``port: "8000"``); both forms are a uint32 to istiod."""
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() and 1 <= int(text) <= 65535 else None


def _patterns(values: Any) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in values)


def header_matches(pattern: str, name: str) -> bool:
    """Istio's header-name pattern: ``*``, ``prefix*``, ``*suffix`` or exact, case-insensitive."""
    name = name.lower()
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    return name == pattern


def _matching(headers: Headers, patterns: tuple[str, ...]) -> Headers:
    return tuple((k, v) for k, v in headers if any(header_matches(p, k) for p in patterns))


def check_request(provider: Provider, request: Request, body: bytes) -> tuple[Request, bytes] | LocalReply:
    """The request sent to the authorizer (and its body), or Envoy's 413 when
    the body is over ``maxRequestBytes`` and partial messages are not allowed."""
    sent = b""
    if provider.body is not None:
        limit = provider.body.max_request_bytes
        if len(body) > limit and not provider.body.allow_partial_message:
            return LocalReply(413, b"Payload Too Large", "UAEX", "request_payload_too_large",
                              (("content-type", "text/plain"),))
        sent = body[:limit]
    headers = _matching(request.headers, (*ALWAYS_SENT, *provider.include_request_headers))
    headers = tuple((k, v) for k, v in headers if k not in ("host", "content-length"))
    fixed = {k for k, _ in provider.additional_headers}
    headers = tuple((k, v) for k, v in headers if k not in fixed) + provider.additional_headers
    headers += (("content-length", str(len(sent))),)
    check = Request(request.method, provider.path_prefix + request.path, request.authority, "http", headers)
    return check, sent


def decide(provider: Provider, status: int, headers: Headers, body: bytes) -> Decision:
    """What the authorizer's answer means for the request it was asked about."""
    if status == 200:
        return Decision(
            True,
            upstream_headers=_matching(headers, provider.to_upstream_on_allow),
            downstream_headers=_matching(headers, provider.to_downstream_on_allow),
        )
    if status >= 500:
        return failed(provider)
    kept = tuple((k, v) for k, v in headers if k not in _NOT_COPIED)
    if provider.to_downstream_on_deny is not None:
        wanted = (*provider.to_downstream_on_deny, "www-authenticate", "location")
        kept = _matching(kept, wanted)
    return Decision(False, LocalReply(status, body, "UAEX", "ext_authz_denied", kept))


def failed(provider: Provider) -> Decision:
    """The authorizer answered 5xx, timed out or could not be reached."""
    if provider.fail_open:
        return Decision(True)
    return Decision(False, LocalReply(provider.status_on_error, b"", "UAEX", "ext_authz_error"))
