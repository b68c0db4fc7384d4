"""The per-node ztunnel, run inside the node agent (the blueprint's "kubelet + ztunnel").

Layered top to bottom (a contract in ``pyproject.toml`` keeps it so):
``ztunnel.Ztunnel`` is the object the agent owns and reconciles on SIGHUP;
``podproxy`` owns one enrolled pod's listeners and sockets; ``outbound``
(15001) and ``inbound`` (15006, 15008) decide what each connection means;
``context`` is what they need of the node (resolver, metrics, TLS) and
``streams`` moves the bytes; ``workloads`` is pure (who is enrolled,
identities, where a destination resolves to), ``accesslog`` formats
ztunnel's access log and ``capture`` hands the in-pod ruleset to the kernel.
"""
