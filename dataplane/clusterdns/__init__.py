"""Cluster DNS: the answers of CoreDNS's ``kubernetes`` plugin, from a Plan.

``zone`` builds every record of the cluster domain from a Plan (pure);
``server`` answers DNS messages from such a zone with dnslib.  The agent's
``dns`` responder (``dataplane.agent.dns_responder``) serves them on the
port 53 of the CoreDNS pods, which the kube-dns Service reaches by DNAT.
"""

from __future__ import annotations

from .server import answer
from .zone import Zone, build_zone

__all__ = ["Zone", "answer", "build_zone"]
