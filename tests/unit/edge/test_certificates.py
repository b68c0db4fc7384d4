"""Certificates: SNI picks the covering certificate, else the default (T15);
discovery by host, as the LBC's ACM discovery."""

from __future__ import annotations

import pytest

from dataplane.edge.certificates import choose_certificate, covers, discover, hosts_needing_certificate

T15 = [("arn:certA", ("a.example.com",)), ("arn:certB", ("b.example.com",))]


def test_t15_sni_picks_the_matching_certificate_else_the_first() -> None:
    assert choose_certificate(T15, "b.example.com") == "arn:certB"
    assert choose_certificate(T15, "B.Example.com") == "arn:certB"
    assert choose_certificate(T15, "c.example.com") == "arn:certA"
    assert choose_certificate(T15, None) == "arn:certA"
    with pytest.raises(ValueError, match="at least one certificate"):
        choose_certificate([], "a.example.com")


def test_a_wildcard_covers_exactly_one_label() -> None:
    assert covers(["*.example.com"], "a.example.com")
    assert not covers(["*.example.com"], "example.com")
    assert not covers(["*.example.com"], "a.b.example.com")
    assert covers(["example.com", "www.example.com"], "WWW.example.com.")


def test_discovery_takes_every_covering_certificate_sorted_and_needs_one_per_host() -> None:
    available = [("arn:z-wild", ("*.example.com",)), ("arn:a-exact", ("a.example.com",)), ("arn:other", ("x.test",))]
    assert discover(["a.example.com", "b.example.com"], available) == ("arn:a-exact", "arn:z-wild")
    with pytest.raises(ValueError, match="no certificate found for host: c.test"):
        discover(["a.example.com", "c.test"], available)


def test_hosts_needing_a_certificate_come_from_rules_and_tls() -> None:
    spec = {"rules": [{"host": "B.example.com"}, {"http": {}}], "tls": [{"hosts": ["a.example.com", "b.example.com"]}]}
    assert hosts_needing_certificate(spec) == ("a.example.com", "b.example.com")
    assert hosts_needing_certificate({}) == ()
