"""``dpctl trace``'s pure half: what to trace, and what the trace said.

The kernel half (``dataplane.kernel.nftrace``, ``dataplane.kernel.probe``)
sends one real probe and collects ``nft monitor trace`` lines per network
namespace.  This package decides which packets to mark (``ruleset``,
``targets``), turns the monitor lines into per-namespace hops with their
rewrites, matched rules and outcome (``events``, ``passes``, ``hops``) and
into a report (``report``).  None of it needs root, so every step is tested
on captured monitor output.
"""
