"""The NLB the AWS Load Balancer Controller builds from a Service's annotations (``aws-edge.md`` §1.8)."""

from __future__ import annotations

import pytest

from dataplane.edge import nlb, proxyv2

P = nlb.PREFIX
PORTS = [nlb.ServicePortRef(443, "TCP", "https"), nlb.ServicePortRef(80, "TCP", "http")]
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/x"


def _read(annotations: dict[str, str]) -> tuple[nlb.Nlb | None, list[str]]:
    said: list[str] = []
    return nlb.read(annotations, PORTS, {CERT}, lambda path, message: said.append(f"{path}: {message}")), said


def test_selection_by_class_or_type() -> None:
    assert nlb.is_aws_nlb({}, nlb.NLB_CLASS)
    assert nlb.is_aws_nlb({nlb.TYPE: "external"}, None) and nlb.is_aws_nlb({nlb.TYPE: "nlb-ip"}, None)
    assert not nlb.is_aws_nlb({nlb.TYPE: "nlb"}, None) and not nlb.is_aws_nlb({}, None)


def test_defaults_follow_the_reference() -> None:
    settings, said = _read({})
    assert settings == nlb.Nlb("instance", "internal", False, None, False) and not said
    assert settings.preserves("TCP")
    ip, _ = _read({nlb.TYPE: "nlb-ip"})
    assert ip is not None and ip.target_type == "ip" and not ip.preserves("TCP") and ip.preserves("UDP")


def test_attributes_and_the_deprecated_cross_zone() -> None:
    settings, _ = _read({nlb.ATTRIBUTES: "load_balancing.cross_zone.enabled=true",
                         nlb.TG_ATTRIBUTES: "preserve_client_ip.enabled=true,deregistration_delay.timeout_seconds=120"})
    assert settings is not None and settings.cross_zone and settings.preserve_client_ip
    legacy, _ = _read({nlb.CROSS_ZONE: "true"})
    assert legacy is not None and legacy.cross_zone


def test_tls_ports_by_name_or_number_and_all_without_ssl_ports() -> None:
    named, _ = _read({nlb.SSL_CERT: CERT, nlb.SSL_PORTS: "https"})
    assert named is not None and named.tls_ports == (443,) and named.in_userspace(443) and not named.in_userspace(80)
    every, _ = _read({nlb.SSL_CERT: CERT})
    assert every is not None and every.tls_ports == (443, 80)


@pytest.mark.parametrize(("key", "value", "message"), [
    (nlb.TARGET_TYPE, "pod", "expected instance or ip"),
    (nlb.SCHEME, "public", "expected internal or internet-facing"),
    (nlb.PROXY_PROTOCOL, "v2", 'expected "*"'),
    (nlb.SSL_CERT, "arn:aws:acm:us-east-1:1:certificate/none", "no certificate of the emulated ACM"),
    (nlb.TG_ATTRIBUTES, "preserve_client_ip.enabled=yes", "expected true or false"),
    (nlb.BACKEND_PROTOCOL, "http", "expected tcp or ssl"),
])
def test_a_bad_value_builds_no_nlb_and_names_the_annotation(key: str, value: str, message: str) -> None:
    settings, said = _read({key: value})
    assert settings is None and len(said) == 1
    assert said[0].startswith(f'metadata.annotations["{key}"]') and message in said[0]


def test_ssl_ports_naming_no_port_is_an_error() -> None:
    settings, said = _read({nlb.SSL_CERT: CERT, nlb.SSL_PORTS: "8443"})
    assert settings is None and "'8443' names no port" in said[0]


def test_proxy_v2_header_round_trips() -> None:
    header = proxyv2.header(("203.0.113.2", 40000), ("203.0.113.250", 7000))
    assert header.startswith(proxyv2.SIGNATURE) and header[12:14] == b"\x21\x11" and len(header) == 28
    assert proxyv2.parse(header + b"x") == (("203.0.113.2", 40000), ("203.0.113.250", 7000), 28)
