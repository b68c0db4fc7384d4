"""The per-node ztunnel, run inside the node agent (the blueprint's "kubelet + ztunnel").

``workloads`` is pure (who is enrolled, identities, where a destination
resolves to); ``accesslog`` formats ztunnel's access log; ``podproxy`` serves
one enrolled pod (listeners 15001/15006/15008 made inside its namespace);
``ztunnel.Ztunnel`` is the object the agent owns and reconciles on SIGHUP.
"""
