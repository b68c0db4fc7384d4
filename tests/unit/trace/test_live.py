"""``--live``'s pure half: node-link flows from segments, new vs pooled HBONE,
the connection's own access-log lines, and the answer's status and pod."""

from __future__ import annotations

from dataplane.trace import accesslogs, links, livereport

CLIENT, WAYPOINT, V1 = "10.0.0.6", "10.0.0.5", "10.0.1.5"


def _seg(src: str, sport: int, dst: str, dport: int, flags: str = "PA", payload: bytes = b"",
         iface: str = "eth0") -> links.Segment:
    return links.Segment("dp-t.n1", iface, "out", src, sport, dst, dport, flags, payload[:8], len(payload))


def test_flows_are_grouped_per_link_written_client_to_server_and_classified() -> None:
    segments = [
        _seg(WAYPOINT, 15008, CLIENT, 40000, payload=b"\x17\x03\x03\x00\x20" + b"x" * 32),
        _seg(CLIENT, 40000, WAYPOINT, 15008, payload=b"\x17\x03\x03\x00\x10" + b"x" * 16),
        _seg(WAYPOINT, 41000, V1, 15008, flags="S"),
        _seg(WAYPOINT, 41000, V1, 15008, flags="A"),
    ]
    pooled, new = links.summarize(segments)
    assert (pooled.source, pooled.destination, pooled.content, pooled.packets) == (
        f"{CLIENT}:40000", f"{WAYPOINT}:15008", "TLS", 2)
    assert pooled.payload_bytes == 58 and not pooled.opened
    assert new.opened and new.content == "no payload"
    assert links.content_of(b"GET / HTTP/1.1") == "plaintext HTTP"


def test_a_syn_to_15008_means_a_new_hbone_connection() -> None:
    segments = [_seg(CLIENT, 40000, WAYPOINT, 15008), _seg(WAYPOINT, 41000, V1, 15008, flags="S")]
    assert links.tunnel_state(segments, CLIENT, WAYPOINT) == "pooled"
    assert links.tunnel_state(segments, WAYPOINT, V1) == "new"
    assert links.tunnel_state(segments, CLIENT, V1) == "unseen"


def test_relevant_keeps_traffic_between_the_trace_workloads_on_its_ports() -> None:
    assert links.relevant(_seg(CLIENT, 40000, WAYPOINT, 15008), {CLIENT, WAYPOINT}, {15008})
    assert not links.relevant(_seg(CLIENT, 40000, WAYPOINT, 53), {CLIENT, WAYPOINT}, {15008})
    assert not links.relevant(_seg(CLIENT, 40000, "10.9.9.9", 15008), {CLIENT, WAYPOINT}, {15008})


LOG = "\n".join([
    "some agent message",
    f"2026-01-01T00:00:00.000000Z\tinfo\taccess\tconnection complete\tsrc.addr={CLIENT}:45000 "
    f'src.identity="cluster.local/ns/shop/sa/curl" dst.addr={WAYPOINT}:15008 dst.hbone_addr=10.96.0.9:9080 '
    'dst.workload="waypoint-0" direction="outbound" bytes_sent=97 bytes_recv=460 duration="3ms"',
    f"2026-01-01T00:00:00.000000Z\tinfo\taccess\tconnection complete\tsrc.addr={CLIENT}:45999 "
    f'dst.addr={WAYPOINT}:15008 direction="outbound" bytes_sent=1 bytes_recv=1 duration="3ms"',
    f"2026-01-01T00:00:00.000000Z\tinfo\taccess\tconnection complete\tsrc.addr={WAYPOINT}:41000 "
    f'dst.addr={V1}:15008 dst.hbone_addr={V1}:9080 direction="inbound" bytes_sent=9 bytes_recv=9 duration="3ms"',
    '[2026-01-01T00:00:00.000Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 313 23 22 "-" "-" "rid-1" "reviews:9080" '
    f'"envoy://connect_originate/{V1}:9080" inbound-vip|9080|http|reviews-v1.shop.svc.cluster.local '
    f"envoy://internal_client_address/ 10.96.0.9:9080 {CLIENT}:54062 - default",
])


def test_access_log_lines_are_parsed_and_only_the_connection_s_own_kept() -> None:
    parsed = accesslogs.parse("n1", LOG)
    assert len(parsed) == 4
    kept = accesslogs.ours(parsed, f"{CLIENT}:45000", "rid-1", {f"{V1}:9080"}, {WAYPOINT})
    outbound, inbound, envoy = kept
    assert isinstance(outbound, accesslogs.ZtunnelLine) and outbound.fields["dst.workload"] == "waypoint-0"
    assert isinstance(inbound, accesslogs.ZtunnelLine) and inbound.direction == "inbound"
    assert isinstance(envoy, accesslogs.EnvoyLine) and envoy.endpoint == f"{V1}:9080" and envoy.code == 200
    said = livereport.picked(tuple(kept), {V1: "shop/v1"})
    assert said == [
        f"the source ztunnel sent it to waypoint-0 via {WAYPOINT}:15008",
        f"the waypoint sent GET / to {V1}:9080 (shop/v1), cluster inbound-vip|9080|http|reviews-v1.shop.svc.cluster.local",
    ]


def test_the_answer_gives_its_status_line_and_the_responder_s_pod() -> None:
    answer = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"pod": "v1-0", "client": "x"}'
    assert livereport.http_answer(answer) == ("HTTP/1.1 200 OK", "v1-0")
