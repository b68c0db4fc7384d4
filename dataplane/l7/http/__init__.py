"""HTTP on the wire for the L7 proxies: bytes in, messages out, and back.

``messages`` holds the protocol-neutral request and response; ``h1`` speaks
HTTP/1.1 with h11 (downstream as a server, upstream as a client, keep-alive
on both); ``h2`` speaks HTTP/2 and gRPC with h2, including h2c prior
knowledge.  Nothing here knows about routes or the mesh.
"""
