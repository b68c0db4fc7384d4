"""One target group: an Ingress backend's Service port with the settings
of its annotations, the Service's overriding the Ingress's key by key (the
LBC's ``buildTargetGroupSpec`` merges them so).

Values are checked against the ranges ELBv2 accepts (an out-of-range health
check makes CreateTargetGroup fail, and with it the LBC's build of the
whole group): interval 5-300 s, timeout 2-120 s and below the interval,
thresholds 2-10, ``deregistration_delay.timeout_seconds`` 0-3600.
"""

from __future__ import annotations

from .albmodel import DEFAULT_DEREGISTRATION_DELAY, TRAFFIC_PORT, HealthCheck, TargetGroup
from .annotations import Reader, parse_int32, parse_map, parse_success_codes

PROTOCOLS = ("HTTP", "HTTPS")
TARGET_TYPES = ("instance", "ip")
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"


def target_group(namespace: str, service: str, port: int | str, reader: Reader) -> TargetGroup:
    """The target group of ``service``:``port``; values reported as bad
    fall back to their defaults (the caller drops the ALB anyway)."""
    protocol = reader.string("backend-protocol", PROTOCOLS) or "HTTP"
    attributes = reader.parsed("target-group-attributes", parse_map) or {}
    return TargetGroup(
        namespace=namespace,
        service=service,
        port=port,
        target_type=reader.string("target-type", TARGET_TYPES) or "instance",
        health=_health(reader, protocol),
        deregistration_delay=_deregistration_delay(reader, attributes),
        protocol=protocol,
        attributes=tuple(sorted(attributes.items())),
    )


def _health(reader: Reader, protocol: str) -> HealthCheck:
    default = HealthCheck()
    interval = reader.integer("healthcheck-interval-seconds", 5, 300)
    timeout = reader.integer("healthcheck-timeout-seconds", 2, 120)
    check = HealthCheck(
        path=_path(reader) or default.path,
        port=_port(reader),
        protocol=reader.string("healthcheck-protocol", PROTOCOLS) or protocol,
        interval=float(interval or default.interval),
        timeout=float(timeout or default.timeout),
        healthy_threshold=reader.integer("healthy-threshold-count", 2, 10) or default.healthy_threshold,
        unhealthy_threshold=reader.integer("unhealthy-threshold-count", 2, 10) or default.unhealthy_threshold,
        success_codes=reader.parsed("success-codes", parse_success_codes) or default.success_codes,
    )
    if (interval is not None or timeout is not None) and check.timeout >= check.interval:
        where = "healthcheck-timeout-seconds" if timeout is not None else "healthcheck-interval-seconds"
        reader.report(
            reader.path(where),
            f"the health-check timeout ({check.timeout:g} s) must be less than the interval ({check.interval:g} s)",
        )
    return check


def _path(reader: Reader) -> str | None:
    path = reader.string("healthcheck-path")
    if path is not None and (not path.startswith("/") or len(path) > 1024):
        reader.report(reader.path("healthcheck-path"), f"{path!r} must start with / (at most 1024 characters)")
        return None
    return path


def _port(reader: Reader) -> int | str:
    """``traffic-port``, a number, or a Service port name (resolved against
    the Service when targets are registered, as the LBC does)."""
    text = reader.string("healthcheck-port")
    if text is None or text == TRAFFIC_PORT:
        return TRAFFIC_PORT
    if not text.isdigit():
        return text
    if not 1 <= int(text) <= 65535:
        reader.report(reader.path("healthcheck-port"), f"{text} must be within [1, 65535] (or traffic-port)")
        return TRAFFIC_PORT
    return int(text)


def _deregistration_delay(reader: Reader, attributes: dict[str, str]) -> float:
    if DEREGISTRATION_DELAY not in attributes:
        return DEFAULT_DEREGISTRATION_DELAY
    text = attributes[DEREGISTRATION_DELAY]
    try:
        seconds = parse_int32(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 3600:
        reader.report(reader.path("target-group-attributes"), f"{DEREGISTRATION_DELAY}={text}: must be 0-3600 seconds")
        return DEFAULT_DEREGISTRATION_DELAY
    return float(seconds)
