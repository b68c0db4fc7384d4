from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from dataplane.topology import rules


@pytest.mark.parametrize("name", ["a", "shop", "node-1", "a" * 63])
def test_valid_dns_labels(name: str) -> None:
    assert rules.dns_label(name) == name


@pytest.mark.parametrize("name", ["", "Shop", "-a", "a-", "a.b", "a_b", "a" * 64])
def test_invalid_dns_labels_state_the_rule(name: str) -> None:
    with pytest.raises(ValueError, match="is not a valid DNS-1123 label: at most 63 characters"):
        rules.dns_label(name)


def test_topology_names_are_short_labels() -> None:
    assert rules.topology_name("a" * 40)
    with pytest.raises(ValueError, match="at most 40 characters"):
        rules.topology_name("a" * 41)


def test_service_names_must_start_with_a_letter() -> None:
    assert rules.dns_1035_label("web")
    with pytest.raises(ValueError, match="DNS-1035 label"):
        rules.dns_1035_label("1web")


@pytest.mark.parametrize(("name", "ok"), [("ui-0", True), ("a.b.c", True), ("a..b", False), ("A", False)])
def test_dns_subdomains(name: str, ok: bool) -> None:
    if ok:
        assert rules.dns_subdomain(name) == name
    else:
        with pytest.raises(ValueError, match="DNS-1123 subdomain"):
            rules.dns_subdomain(name)


@pytest.mark.parametrize(
    ("key", "ok"),
    [("app", True), ("app.kubernetes.io/name", True), ("a/b/c", False), ("-x", False), ("Example.com/x", False)],
)
def test_label_keys(key: str, ok: bool) -> None:
    if ok:
        assert rules.label_key(key) == key
    else:
        with pytest.raises(ValueError, match="not a valid label key"):
            rules.label_key(key)


def test_label_values() -> None:
    assert rules.label_value("") == ""
    assert rules.label_value("v1.2_x") == "v1.2_x"
    with pytest.raises(ValueError, match="not a valid label value"):
        rules.label_value("-x")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("http", True),
        ("tcp-mysql", True),
        ("8080", False),
        ("a--b", False),
        ("a-very-long-port-name", False),
        ("Http", False),
    ],
)
def test_port_names_are_iana_service_names(name: str, ok: bool) -> None:
    if ok:
        assert rules.port_name(name) == name
    else:
        with pytest.raises(ValueError, match="not a valid port name"):
            rules.port_name(name)


def test_port_numbers() -> None:
    assert rules.port_number(65535) == 65535
    with pytest.raises(ValueError, match="port 0 is out of range 1-65535"):
        rules.port_number(0)


def test_cidrs_must_be_ipv4_network_addresses() -> None:
    assert rules.ipv4_network("10.0.0.0/8") == IPv4Network("10.0.0.0/8")
    with pytest.raises(ValueError, match=r"192.168.1.1/24 has host bits set \(did you mean 192.168.1.0/24\?\)"):
        rules.ipv4_network("192.168.1.1/24")
    with pytest.raises(ValueError, match="is not a CIDR"):
        rules.ipv4_network("10.0.0.0")
    with pytest.raises(ValueError, match="is not a valid CIDR"):
        rules.ipv4_network("10.0.0.0/40")
    with pytest.raises(ValueError, match="IPv6 is not supported"):
        rules.ipv4_network("fd00::/64")


def test_addresses() -> None:
    assert rules.ipv4_address("10.0.0.1") == IPv4Address("10.0.0.1")
    with pytest.raises(ValueError, match="not a valid IPv4 address"):
        rules.ipv4_address("10.0.0")
    with pytest.raises(ValueError, match="IPv6 is not supported"):
        rules.ipv4_address("::1")


def test_check_name_reports_but_keeps_the_name() -> None:
    problems: list[tuple[str, str]] = []
    kept = rules.check_name(rules.dns_label, "Bad", "metadata.name", lambda p, m, **_: problems.append((p, m)))
    assert kept == "Bad"
    assert problems[0][0] == "metadata.name"
