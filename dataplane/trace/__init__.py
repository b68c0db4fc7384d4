"""``dpctl trace``'s pure half: what to trace, and what the trace said.

The kernel half (``dataplane.kernel.nftrace``, ``dataplane.kernel.probe``)
sends one real probe and collects ``nft monitor trace`` lines per network
namespace.  This package decides which packets to mark (``ruleset``,
``targets``), turns the monitor lines into per-namespace hops with their
rewrites, matched rules and outcome (``events``, ``passes``, ``hops``) and
into a report (``report``).  None of it needs root, so every step is tested
on captured monitor output.

From a meshed pod the kernel's part ends at the proxy's capture; the mesh's
part is predicted from the plan by the mesh's own pure decisions
(``meshplan``: the source proxy; ``waypointplan``: a waypoint's policy, route
and backends; ``arrival``: the inbound verdict and the app socket; values in
``meshmodel``, words in ``routewords`` and ``meshreport``).  ``--live``
evidence (node-link segments, access-log lines) is judged by ``links``,
``accesslogs`` and ``livereport``.
"""
