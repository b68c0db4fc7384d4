"""The in-pod capture ruleset text: the verified recipe, in nft 1.0.6 syntax."""

from __future__ import annotations

from dataplane.mesh.redirect import MANGLE_TABLE, NAT_TABLE, inpod_ruleset, remove_ruleset


def test_ruleset_replaces_both_tables_first() -> None:
    head = inpod_ruleset().splitlines()[:4]
    assert head == [
        f"table inet {NAT_TABLE} {{}}",
        f"delete table inet {NAT_TABLE}",
        f"table inet {MANGLE_TABLE} {{}}",
        f"delete table inet {MANGLE_TABLE}",
    ]


def test_ruleset_holds_the_recipe() -> None:
    lines = {line.strip() for line in inpod_ruleset().splitlines()}
    for line in (
        "type nat hook prerouting priority dstnat; policy accept;",
        "meta l4proto tcp ip daddr != 127.0.0.1 tcp dport != 15008 meta mark & 0xfff != 0x539 redirect to :15006",
        "type nat hook output priority -100; policy accept;",
        "meta l4proto tcp meta mark & 0xfff == 0x111 accept",
        'oifname "lo" ip daddr != 127.0.0.1 accept',
        "meta l4proto tcp ip daddr != 127.0.0.1 meta mark & 0xfff != 0x539 redirect to :15001",
        "type filter hook prerouting priority mangle; policy accept;",
        "meta mark & 0xfff == 0x539 ct mark set ct mark & 0xfffff000 | 0x111",
        "type route hook output priority mangle; policy accept;",
        "ct mark & 0xfff == 0x111 meta mark set ct mark",
    ):
        assert line in lines, line


def test_no_statement_shares_a_line_with_a_closing_brace() -> None:
    """nft 1.0.6 rejects ``redirect to :15006 }`` on one line."""
    closers = [line.strip() for line in inpod_ruleset().splitlines() if line.rstrip().endswith("}")]
    assert all(line == "}" or line.endswith("{}") for line in closers)


def test_remove_is_tolerant_of_absent_tables() -> None:
    assert remove_ruleset() == (
        f"table inet {NAT_TABLE} {{}}\ndelete table inet {NAT_TABLE}\n"
        f"table inet {MANGLE_TABLE} {{}}\ndelete table inet {MANGLE_TABLE}\n"
    )


def test_the_sidecar_ruleset_is_istio_inits_with_marks_for_uid_1337() -> None:
    from dataplane.mesh.redirect import sidecar_ruleset

    text = sidecar_ruleset()
    assert text.splitlines()[:4] == inpod_ruleset().splitlines()[:4]  # either replaces the other
    lines = [line.strip() for line in text.splitlines()]
    output = lines[lines.index("type nat hook output priority -100; policy accept;") + 1:]
    assert output[:6] == [
        'oifname "lo" ip saddr 127.0.0.6 accept',
        'meta l4proto tcp meta mark & 0xfff == 0x539 oifname "lo" ip daddr != 127.0.0.1 tcp dport != 15008'
        " redirect to :15006",
        'oifname "lo" accept',
        "meta mark & 0xfff == 0x539 accept",
        "ip daddr 127.0.0.1 accept",
        "meta l4proto tcp redirect to :15001",
    ]
    assert "meta l4proto tcp tcp dport { 15008, 15020, 15021, 15090 } accept" in lines
    assert MANGLE_TABLE not in text.split(f"delete table inet {MANGLE_TABLE}", 1)[1]  # no steering table
