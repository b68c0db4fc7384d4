"""Topology text shared by the mesh unit tests."""

from __future__ import annotations


def one_node_topology(name: str) -> str:
    """The Topology document of a one-node, one-subnet cluster; tests append their objects."""
    return (
        "apiVersion: dpctl.dev/v1\nkind: Topology\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  vpc:\n"
        "    cidr: 192.168.0.0/16\n"
        "    subnets: [{name: private-a, cidr: 192.168.1.0/24, zone: a}]\n"
        "  nodes: [{name: node-a, subnet: private-a}]\n"
        "---\n"
    )
