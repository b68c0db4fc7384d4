"""The L7 proxy core: what waypoints (and later the edge's ALB and ingress
gateways) do to HTTP requests.

``http`` is the wire (HTTP/1.1 and HTTP/2 codecs, upstream pools); ``routing``
is pure (route tables from HTTPRoute / VirtualService / DestinationRule,
matching, weighted backends, filters, faults, retries, local replies).
Protocol, routing and transport stay apart so that each user of the core
plugs in its own transport (HBONE for waypoints, TLS for an ALB).
"""
