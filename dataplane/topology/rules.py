"""Value rules: the names Kubernetes accepts, and IPv4 addresses and CIDRs.

Each rule returns the parsed value or raises ``ValueError`` with a message that
states the rule, so a user who typed ``Shop`` learns what a valid name is
instead of only that it is invalid.  The name rules follow the Kubernetes API
conventions (DNS-1123 labels and subdomains, DNS-1035 labels for Services,
label keys and values, IANA service names for ports).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from typing import TypeVar

from .schema import Report
from .yamlsource import child_path

T = TypeVar("T")
V = TypeVar("V")

# Always used with fullmatch: "$" would also match before a final newline, and
# "web\n" is no name a kernel object or a path may carry.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def dns_label(value: str, max_length: int = 63) -> str:
    if len(value) <= max_length and _LABEL.fullmatch(value):
        return value
    raise ValueError(
        f"'{value}' is not a valid DNS-1123 label: at most {max_length} characters of lowercase letters, "
        "digits and '-', starting and ending with a letter or digit"
    )


def topology_name(value: str) -> str:
    """Topology names are DNS labels short enough to leave room in namespace names."""
    return dns_label(value, 40)


def dns_1035_label(value: str) -> str:
    if len(value) <= 63 and _LABEL_1035.fullmatch(value):
        return value
    raise ValueError(
        f"'{value}' is not a valid DNS-1035 label: at most 63 characters of lowercase letters, "
        "digits and '-', starting with a letter and ending with a letter or digit"
    )


def dns_subdomain(value: str) -> str:
    if len(value) <= 253 and _SUBDOMAIN.fullmatch(value):
        return value
    raise ValueError(
        f"'{value}' is not a valid DNS-1123 subdomain: at most 253 characters of lowercase letters, "
        "digits, '-' and '.', each dot-separated part starting and ending with a letter or digit"
    )


def label_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    prefix_ok = not prefix or (len(prefix) <= 253 and _SUBDOMAIN.fullmatch(prefix))
    if prefix_ok and len(name) <= 63 and _QUALIFIED.fullmatch(name):
        return key
    raise ValueError(
        f"'{key}' is not a valid label key: an optional DNS subdomain and '/', then at most 63 letters, "
        "digits, '-', '_' and '.', starting and ending with a letter or digit"
    )


def label_value(value: str) -> str:
    if value == "" or (len(value) <= 63 and _QUALIFIED.fullmatch(value)):
        return value
    raise ValueError(
        f"'{value}' is not a valid label value: empty, or at most 63 letters, digits, '-', '_' and '.', "
        "starting and ending with a letter or digit"
    )


def port_name(value: str) -> str:
    """An IANA service name, as Kubernetes requires of container and target port names."""
    if len(value) <= 15 and _PORT_NAME.fullmatch(value) and "--" not in value and re.search("[a-z]", value) is not None:
        return value
    raise ValueError(
        f"'{value}' is not a valid port name: at most 15 lowercase letters, digits and '-', "
        "with at least one letter, no '--', not starting or ending with '-'"
    )


def port_number(value: int) -> int:
    if 1 <= value <= 65535:
        return value
    raise ValueError(f"port {value} is out of range 1-65535")


def ipv4_address(text: str) -> IPv4Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid IPv4 address") from None
    if not isinstance(address, IPv4Address):
        raise ValueError(f"{text}: IPv6 is not supported")
    return address


def ipv4_network(text: str) -> IPv4Network:
    """A CIDR written as its network address: ``192.168.1.1/24`` is refused, not rounded."""
    if "/" not in text:
        raise ValueError(f"'{text}' is not a CIDR: expected an address and a prefix length, e.g. 192.168.1.0/24")
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid CIDR (expected e.g. 192.168.1.0/24)") from None
    if interface.version != 4:
        raise ValueError(f"{text}: IPv6 is not supported")
    network = IPv4Network(interface.network)
    if interface.ip != network.network_address:
        raise ValueError(f"{text} has host bits set (did you mean {network}?)")
    return network


def apply(rule: Callable[[V], T], value: V | None, path: str, report: Report) -> T | None:
    """``rule(value)``, or None after reporting why it failed (or if there is no value)."""
    if value is None:
        return None
    try:
        return rule(value)
    except ValueError as exc:
        report(path, str(exc))
        return None


def check_name(rule: Callable[[str], str], value: str | None, path: str, report: Report) -> str | None:
    """Check a name but return it as written: references to it still resolve, so a
    bad name is reported once and not again by every object that refers to it."""
    apply(rule, value, path, report)
    return value


def check_labels(labels: dict[str, str], path: str, report: Report, values: bool = True) -> None:
    """Report every invalid key (and, for labels, value) of a label or annotation map."""
    for key, value in labels.items():
        sub = child_path(path, key)
        apply(label_key, key, sub, report)
        if values:
            apply(label_value, value, sub, report)
