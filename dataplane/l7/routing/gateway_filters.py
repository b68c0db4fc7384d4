"""HTTPRoute filters and backend references -> the routing model.

The API server's CEL rules are enforced here (a filter's config must match
its type, each type at most once but RequestMirror, a backendRef's port is
required), and so is what Istio refuses: ``ExtensionRef`` rejects the route,
and a backendRef's own filters may only modify headers.  Istio's
translation choices are kept: header names are lower-cased and a repeated
name is ignored after its first entry; a redirect without a port keeps the
request's port unless it changes the scheme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import HeaderModifier, Headers, Mirror, PathModifier, Redirect, Report, Rewrite
from .values import service_fqdn

HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
REDIRECT_CODES = (301, 302, 303, 307, 308)
CONFIG_FIELD = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "RequestMirror": "requestMirror",
    "CORS": "cors",
    "ExtensionRef": "extensionRef",
}
HEADER_FILTERS = ("RequestHeaderModifier", "ResponseHeaderModifier")


@dataclass(frozen=True)
class Context:
    """What every part of one HTTPRoute's translation needs."""

    namespace: str
    domain: str
    report: Report
    warn: Report


@dataclass(frozen=True)
class Filters:
    request_headers: HeaderModifier = field(default_factory=HeaderModifier)
    response_headers: HeaderModifier = field(default_factory=HeaderModifier)
    redirect: Redirect | None = None
    rewrite: Rewrite | None = None
    mirrors: tuple[Mirror, ...] = ()


def header_name(where: str, name: str, ctx: Context) -> str:
    if not HEADER_NAME.fullmatch(name):
        ctx.report(where, f"{name!r} is not a valid HTTP header name")
    return name.lower()


def _pairs(where: str, entries: Sequence[Mapping[str, str]], ctx: Context) -> Headers:
    """``[{name, value}]`` lower-cased; a repeated name counts once (its first entry)."""
    out: dict[str, str] = {}
    for i, entry in enumerate(entries):
        name = header_name(f"{where}[{i}].name", entry["name"], ctx)
        if name in out:
            ctx.warn(f"{where}[{i}].name", f"header {name!r} is listed twice: this later entry is ignored")
            continue
        out[name] = entry["value"]
    return tuple(out.items())


def header_modifier(where: str, spec: Mapping[str, Any], ctx: Context) -> HeaderModifier:
    remove = tuple(header_name(f"{where}.remove[{i}]", n, ctx) for i, n in enumerate(spec.get("remove", [])))
    return HeaderModifier(
        _pairs(f"{where}.set", spec.get("set", []), ctx), _pairs(f"{where}.add", spec.get("add", []), ctx), remove
    )


def path_modifier(where: str, spec: Mapping[str, Any], ctx: Context) -> PathModifier | None:
    kind = spec["type"]
    key = "replaceFullPath" if kind == "ReplaceFullPath" else "replacePrefixMatch"
    other = "replacePrefixMatch" if key == "replaceFullPath" else "replaceFullPath"
    if key not in spec or other in spec:
        ctx.report(where, f"type {kind} needs {key} (and not {other})")
        return None
    return PathModifier(kind, spec[key])


def redirect(where: str, spec: Mapping[str, Any], ctx: Context) -> Redirect:
    status = spec.get("statusCode", 302)
    if status not in REDIRECT_CODES:
        ctx.report(f"{where}.statusCode", f"must be one of {', '.join(map(str, REDIRECT_CODES))}; got {status}")
    scheme = spec.get("scheme")
    if scheme not in (None, "http", "https"):
        ctx.report(f"{where}.scheme", f"must be http or https; got {scheme!r}")
    path = path_modifier(f"{where}.path", spec["path"], ctx) if "path" in spec else None
    port = spec.get("port")
    return Redirect(status, scheme, spec.get("hostname"), port, port is None and scheme is None, path)


def rewrite(where: str, spec: Mapping[str, Any], ctx: Context) -> Rewrite:
    path = path_modifier(f"{where}.path", spec["path"], ctx) if "path" in spec else None
    return Rewrite(spec.get("hostname"), path)


def service_ref(where: str, ref: Mapping[str, Any], ctx: Context) -> tuple[str, int] | None:
    """The (FQDN, port) a backendRef names, or None after reporting why not."""
    group, kind, name = ref.get("group", ""), ref.get("kind", "Service"), ref["name"]
    if (group, kind) != ("", "Service"):
        ctx.report(f"{where}.kind", f"{kind} (group {group!r}) is not supported: a backend must be a Service "
                   "(group \"\", kind Service)")
        return None
    if "." in name:
        ctx.report(f"{where}.name", f"{name!r}: use the Service's name, not a host name")
        return None
    if "port" not in ref:
        ctx.report(f"{where}.port", "a Service backend needs a port")
        return None
    namespace = ref.get("namespace", ctx.namespace)
    if namespace != ctx.namespace:
        ctx.warn(f"{where}.namespace", "a backend in another namespace needs a ReferenceGrant, which dpctl does "
                 "not enforce yet: the reference is treated as permitted")
    return service_fqdn(name, namespace, ctx.domain), ref["port"]


def mirror(where: str, spec: Mapping[str, Any], ctx: Context) -> Mirror | None:
    if "percent" in spec and "fraction" in spec:
        ctx.report(where, "set percent or fraction, not both")
    percent = 100.0
    if "fraction" in spec:
        numerator, denominator = spec["fraction"]["numerator"], spec["fraction"].get("denominator", 100)
        if denominator <= 0 or not 0 <= numerator <= denominator:
            ctx.report(f"{where}.fraction", "needs 0 <= numerator <= denominator and denominator > 0")
            return None
        percent = 100 * numerator / denominator
    elif "percent" in spec:
        percent = float(spec["percent"])
        if not 0 <= percent <= 100:
            ctx.report(f"{where}.percent", f"must be within 0-100; got {spec['percent']}")
    target = service_ref(f"{where}.backendRef", spec["backendRef"], ctx)
    return None if target is None else Mirror(target[0], target[1], percent)


def filters(where: str, specs: Sequence[Mapping[str, Any]], ctx: Context, on_backend: bool = False) -> Filters:
    """A rule's (or a backendRef's) filters, each checked."""
    seen: set[str] = set()
    found: dict[str, Any] = {}
    mirrors: list[Mirror] = []
    for i, spec in enumerate(specs):
        at, kind = f"{where}[{i}]", spec["type"]
        config = CONFIG_FIELD[kind]
        extra = [k for k in CONFIG_FIELD.values() if k in spec and k != config]
        if extra or config not in spec:
            ctx.report(at, f"type {kind} takes {config} only" + (f" (not {', '.join(extra)})" if extra else ""))
            continue
        if kind in seen and kind != "RequestMirror":
            ctx.report(f"{at}.type", f"{kind} may appear only once")
            continue
        seen.add(kind)
        if kind == "ExtensionRef":
            ctx.report(f"{at}.type", "ExtensionRef filters are not supported by Istio: the route is rejected")
        elif on_backend and kind not in HEADER_FILTERS:
            ctx.report(f"{at}.type", f"{kind} is not supported on a backendRef (Istio takes header modifiers only)")
        elif kind == "CORS":
            ctx.warn(f"{at}.type", "CORS is accepted but not emulated: no CORS headers are checked or added")
        elif kind in HEADER_FILTERS:
            found[kind] = header_modifier(f"{at}.{config}", spec[config], ctx)
        elif kind == "RequestRedirect":
            found[kind] = redirect(f"{at}.{config}", spec[config], ctx)
        elif kind == "URLRewrite":
            found[kind] = rewrite(f"{at}.{config}", spec[config], ctx)
        elif (copy := mirror(f"{at}.{config}", spec[config], ctx)) is not None:
            mirrors.append(copy)
    if "RequestRedirect" in found and "URLRewrite" in found:
        ctx.report(where, "RequestRedirect and URLRewrite cannot be used together")
    return Filters(
        found.get("RequestHeaderModifier", HeaderModifier()), found.get("ResponseHeaderModifier", HeaderModifier()),
        found.get("RequestRedirect"), found.get("URLRewrite"), tuple(mirrors),
    )
