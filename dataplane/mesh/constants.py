"""Ports and packet marks of Istio's ambient data plane (in-pod mode).

Values are Istio's own, so traces and rulesets read the same as on a real
cluster (see ``shared/reference/ztunnel.md`` §2 and ``inpod-redirection.md``).
"""

from __future__ import annotations

OUTBOUND_PORT = 15001
"""Pod-local listener that receives the pod's own outbound TCP (nat output)."""

INBOUND_PLAINTEXT_PORT = 15006
"""Pod listener that receives plaintext TCP arriving for the pod (nat prerouting)."""

HBONE_PORT = 15008
"""HBONE (mTLS HTTP/2 CONNECT) listener; reached directly, never redirected."""

METRICS_PORT = 15020
"""ztunnel's Prometheus endpoint (``/metrics``, ``/stats/prometheus``), on the node's loopback only."""

PROXY_PORTS = frozenset({OUTBOUND_PORT, INBOUND_PLAINTEXT_PORT, HBONE_PORT})
"""An original destination among these is a ztunnel calling itself (refused)."""

ZTUNNEL_MARK = 0x539
"""SO_MARK on every socket the ztunnel opens inside a pod: exempts it from capture."""

CONNMARK = 0x111
"""Connection mark of ztunnel-originated flows; steers their replies back via lo."""

MARK_MASK = 0xFFF
"""Only the low 12 bits of the marks are Istio's; the rest belongs to others."""

ROUTE_TABLE = 100
"""Policy routing table holding ``local 0.0.0.0/0 dev lo`` for marked replies."""

RULE_PRIORITY = 32764
"""Priority of ``fwmark 0x111/0xfff lookup 100`` (just before main's 32766)."""

SIDECAR_INBOUND_SOURCE = "127.0.0.6"
"""Where a sidecar's inbound connections reach the app from (Envoy's InboundPassthroughCluster)."""

SIDECAR_UNCAPTURED_PORTS = (HBONE_PORT, METRICS_PORT, 15021, 15090)
"""Inbound ports a sidecar's capture leaves alone: HBONE, merged metrics, health, Envoy's stats."""
