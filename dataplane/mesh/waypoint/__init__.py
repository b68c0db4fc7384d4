"""The waypoint proxies a node agent runs for the waypoint pods on its node.

A waypoint is two single HBONE hops with L7 in between (``waypoint-l7.md``
§2.2): the source ztunnel's CONNECT ends at the waypoint pod's 15008 with
the client's identity; the waypoint resolves the CONNECT target (a Service
VIP:port, or a pod's address), picks the chain from the port's protocol
(HTTP through the L7 core, TCP straight through, undeclared sniffed from the
client's first bytes), picks an endpoint, and opens its own HBONE tunnel to
that endpoint's 15008 with the waypoint's identity.

``targets`` (pure) says what a CONNECT target means here; ``upstream`` opens
the second hop; ``proxy`` owns one waypoint pod's listener and chains;
``manager`` reconciles the node's waypoint pods with the plan.
"""
