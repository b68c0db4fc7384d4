"""The resolv.conf and hosts file the kubelet would give each pod."""

from __future__ import annotations

from dataplane.topology.plan import Plan, Pod


def resolv_conf(plan: Plan, pod: Pod) -> str:
    """ClusterFirst DNS: the kube-dns address, Kubernetes' search path, ndots:5."""
    domain = plan.cluster_domain
    search = f"{pod.namespace}.svc.{domain} svc.{domain} {domain}"
    return f"search {search}\nnameserver {plan.dns_ip}\noptions ndots:5\n"


def hosts(plan: Plan, pod: Pod) -> str:
    """The kubelet-managed hosts file: loopback names plus the pod's own name
    (and, with a subdomain, its fully qualified name first, as the kubelet writes it)."""
    name = pod.hostname or pod.name
    own = f"{name}.{pod.subdomain}.{pod.namespace}.svc.{plan.cluster_domain}\t{name}" if pod.subdomain else name
    return (
        "# Kubernetes-managed hosts file (written by dpctl).\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        f"{pod.ip}\t{own}\n"
    )


def files_for(plan: Plan, pod: Pod) -> dict[str, str]:
    return {"resolv.conf": resolv_conf(plan, pod), "hosts": hosts(plan, pod)}
