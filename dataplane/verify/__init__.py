"""Evidence from the running data plane: captures and, later, the checks
built on them (paths, rewrites, policy, encryption).  The sockets that see
the packets live in ``dataplane.kernel.sniff``; this package only reads what
they captured."""
