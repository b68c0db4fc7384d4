"""Conntrack entries inside an emulation namespace (``conntrack`` tool).

NAT bindings live in conntrack entries, not in rules: after an endpoint of a
UDP Service goes away, a client that keeps its source port would keep
sending to the dead endpoint until its entry is deleted.  kube-proxy deletes
those entries; so does dpctl.
"""

from __future__ import annotations

import subprocess

from dataplane.kernel import netns


def _conntrack(netns_name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``conntrack ARGS`` inside ``netns_name``; its exit status is the caller's to read."""
    return subprocess.run(
        ["nsenter", f"--net={netns.path(netns_name)}", "conntrack", *args], capture_output=True, text=True
    )


def delete_udp_flows(netns_name: str, orig_dst: str, orig_port: int, reply_src: str) -> int:
    """Delete UDP entries to ``orig_dst:orig_port`` answered by ``reply_src``;
    returns how many were deleted."""
    result = _conntrack(netns_name, "-D", "-p", "udp", "--orig-dst", orig_dst, "--orig-port-dst", str(orig_port),
                        "--reply-src", reply_src)
    # conntrack exits 1 when nothing matched; its summary line goes to stderr.
    for line in result.stderr.splitlines():
        if "flow entries have been deleted" in line:
            return int(line.split()[-6])
    return 0


def established_tcp(netns_name: str) -> int:
    """How many TCP entries in the namespace are ESTABLISHED (a NAT gateway's ActiveConnectionCount)."""
    result = _conntrack(netns_name, "-L", "-p", "tcp", "--state", "ESTABLISHED")
    return sum(1 for line in result.stdout.splitlines() if line.startswith("tcp"))


def insert_failed(netns_name: str) -> int:
    """Packets whose new entry could not be inserted, over every CPU (``conntrack -S``): behind a SNAT
    with a port range, a connection that found no free source port for its destination."""
    result = _conntrack(netns_name, "-S")
    return sum(int(field.split("=", 1)[1]) for line in result.stdout.splitlines() for field in line.split()
               if field.startswith("insert_failed="))
