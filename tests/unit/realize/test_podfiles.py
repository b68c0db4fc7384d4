"""The resolv.conf and hosts file each pod gets, as the kubelet writes them."""

from __future__ import annotations

import dataclasses

from dataplane.realize import podfiles
from tests.unit.realize.plans import small

PLAN = small("vpc")
WEB = PLAN.pod("default", "web")


def test_resolv_conf_is_cluster_first() -> None:
    assert podfiles.resolv_conf(PLAN, WEB) == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    )


def test_hosts_names_the_pod() -> None:
    assert podfiles.hosts(PLAN, WEB) == (
        "# Kubernetes-managed hosts file (written by dpctl).\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        "192.168.10.5\tweb\n"
    )


def test_a_pod_with_hostname_and_subdomain_has_its_fqdn_first() -> None:
    db = dataclasses.replace(WEB, name="db-0", hostname="db-0", subdomain="db")
    assert podfiles.hosts(PLAN, db).endswith("192.168.10.5\tdb-0.db.default.svc.cluster.local\tdb-0\n")
    # a hostname alone replaces the pod name, unqualified
    named = dataclasses.replace(WEB, hostname="frontend")
    assert podfiles.hosts(PLAN, named).endswith("192.168.10.5\tfrontend\n")


def test_files_for_names_both_files() -> None:
    assert podfiles.files_for(PLAN, WEB) == {
        "resolv.conf": podfiles.resolv_conf(PLAN, WEB),
        "hosts": podfiles.hosts(PLAN, WEB),
    }
