"""The tracing table: its exact text, and the kernel takes it."""

from __future__ import annotations

import subprocess

import pytest

from dataplane.trace import ruleset

EXPECTED = """\
table ip dpctl-trace {
\tset peers {
\t\ttype ipv4_addr . inet_proto . inet_service
\t\telements = { 10.96.0.5 . tcp . 80, 192.168.2.6 . tcp . 8080 }
\t}
\tchain prerouting {
\t\ttype filter hook prerouting priority -350; policy accept;
\t\tmeta l4proto tcp th sport 24000 meta nftrace set 1 accept
\t\tmeta l4proto tcp th dport 24000 meta nftrace set 1 accept
\t\tip daddr . meta l4proto . th dport @peers meta nftrace set 1 accept
\t\tip saddr . meta l4proto . th sport @peers meta nftrace set 1 accept
\t}
\tchain output {
\t\ttype filter hook output priority -350; policy accept;
\t\tmeta l4proto tcp th sport 24000 meta nftrace set 1 accept
\t\tmeta l4proto tcp th dport 24000 meta nftrace set 1 accept
\t\tip daddr . meta l4proto . th dport @peers meta nftrace set 1 accept
\t\tip saddr . meta l4proto . th sport @peers meta nftrace set 1 accept
\t}
\tchain input {
\t\ttype filter hook input priority 350; policy accept;
\t}
\tchain postrouting {
\t\ttype filter hook postrouting priority 350; policy accept;
\t}
}
"""


def test_render() -> None:
    peers = [("192.168.2.6", "tcp", 8080), ("10.96.0.5", "tcp", 80), ("192.168.2.6", "tcp", 8080)]
    assert ruleset.render(24000, "tcp", peers) == EXPECTED


def test_render_without_peers_declares_an_empty_set() -> None:
    text = ruleset.render(24000, "udp", [])
    assert "elements" not in text and "meta l4proto udp th sport 24000" in text


@pytest.mark.dpctl_root
@pytest.mark.parametrize("peers", [[("10.0.0.1", "udp", 53)], []])
def test_kernel_accepts_the_table(peers: list[tuple[str, str, int]]) -> None:
    # A throwaway namespace that lives exactly as long as nft does.
    result = subprocess.run(
        ["unshare", "-n", "nft", "-f", "-"],
        check=False,
        input=ruleset.render(21000, "udp", peers),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
