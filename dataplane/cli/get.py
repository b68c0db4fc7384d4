"""``dpctl get nodes|pods|services|cronjobs|ingress|certificates|dns|gateways|httproutes|grpcroutes|tlsroutes|
securitygroups|networkacls|routetables|natgateways|vpcs|instances|peeringconnections|transitgateways``: what the emulation is made of."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dataplane.agent import ready
from dataplane.cli import dns_records, edge_records, egress_records, gateway_records, network_records, vpc_records
from dataplane.cli.context import output_option, print_json, print_table, running_plan, topology_option
from dataplane.lb import acm
from dataplane.mesh.enrollment import has_sidecar
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan, Pod, Service


def pod_record(pod: Pod) -> dict[str, Any]:
    return {
        "name": pod.name,
        "namespace": pod.namespace,
        "node": pod.node,
        "zone": pod.zone,
        "ip": pod.ip,
        "netns": pod.netns,
        "hostIface": pod.host_iface,
        "ready": pod.ready,
        "terminating": pod.terminating,
        "serviceAccount": pod.service_account,
        "owner": pod.owner,
        "labels": pod.labels,
        "ports": [
            {"port": p.port, "protocol": p.protocol, "name": p.name, "responder": p.responder} for p in pod.ports
        ],
    }


def node_record(plan: Plan, name: str) -> dict[str, Any]:
    node = plan.node(name)
    return {
        "name": node.name,
        "zone": node.zone,
        "subnet": node.subnet,
        "ip": node.ip,
        "netns": node.netns,
        "podCIDR": node.pod_cidr,
        "pods": len(plan.pods_on(node.name)),
        "labels": node.labels,
        "status": "Ready,SchedulingDisabled" if node.unschedulable else "Ready",
        "unschedulable": node.unschedulable,
    }


def service_ports(service: Service) -> str:
    parts = []
    for port in service.ports:
        text = f"{port.port}"
        if port.node_port:
            text += f":{port.node_port}"
        parts.append(f"{text}/{port.protocol}")
    return ",".join(parts) or "<none>"


def nlb_hostnames(plan: Plan) -> dict[str, str]:
    """The DNS name of each Service's NLB (its status hostname), by ``ns/name``."""
    return {lb.group: lb.dns_name for lb in plan.load_balancers if lb.kind == "nlb"}


def external_address(service: Service, hostname: str | None) -> str:
    """kubectl's EXTERNAL-IP: an AWS load balancer shows its hostname; a LoadBalancer with
    neither address nor hostname (the controller refused it) is ``<pending>``."""
    shown = service.external_name or ",".join((*service.load_balancer_ips, *filter(None, [hostname]), *service.external_ips))
    return shown or ("<pending>" if service.type == "LoadBalancer" else "<none>")


def service_record(service: Service, hostname: str | None = None) -> dict[str, Any]:
    return {
        "name": service.name,
        "namespace": service.namespace,
        "type": service.type,
        "clusterIP": service.cluster_ip if not service.headless else "None",
        "externalIPs": list(service.external_ips),
        "loadBalancerIPs": list(service.load_balancer_ips),
        "loadBalancerHostname": hostname,
        "externalName": service.external_name,
        "selector": service.selector,
        "ports": [
            {
                "name": p.name,
                "port": p.port,
                "protocol": p.protocol,
                "targetPort": p.target_port,
                "nodePort": p.node_port,
            }
            for p in service.ports
        ],
    }


def _pod_status(pod: Pod, exited: dict[str, int]) -> str:
    """kubectl's STATUS column: a Job's pod whose every container ended is Completed (or Error)."""
    if pod.terminating:
        return "Terminating"
    codes = [exited.get(f"{pod.key}/{c.name}") for c in pod.containers]
    if codes and all(code is not None for code in codes):
        return "Completed" if not any(codes) else "Error"
    return "Running"


def _exited(plan: Plan) -> dict[str, int]:
    """Every Job container that ran to the end, from the agents' ready files."""
    directory = Path(StateDir(plan.name).path)
    found: dict[str, int] = {}
    for node in plan.nodes:
        status = ready.read(directory, node.name)
        if status is not None:
            found.update(status.exited)
    return found


@click.command("get")
@topology_option
@click.argument(
    "resource",
    type=click.Choice([
        "nodes", "pods", "services", "node", "pod", "svc", "service", "cronjobs", "cronjob", "cj",
        "ingress", "ingresses", "ing", "certificates", "certificate", "cert", "dns", *gateway_records.RESOURCES,
        *vpc_records.RESOURCES, *egress_records.RESOURCES, *network_records.RESOURCES,
    ]),
)
@click.option("-n", "--namespace", help="Only this Kubernetes namespace.")
@output_option
def command(topology: str | None, resource: str, namespace: str | None, output: str) -> None:
    """List nodes, pods, services, cronjobs, ingresses, gateways and routes, the emulated ACM's
    certificates, Route 53's records, or the VPC's security groups, network ACLs, route tables and
    NAT gateways (with their CloudWatch metrics), the VPCs, their instances, peering connections and
    transit gateways."""
    plan = running_plan(topology)
    if resource in vpc_records.RESOURCES:
        vpc_records.show(plan, resource, output)
    elif resource in egress_records.RESOURCES:
        egress_records.show(plan, resource, output)
    elif resource in network_records.RESOURCES:
        network_records.show(plan, resource, output)
    elif resource in gateway_records.RESOURCES:
        gateway_records.show(plan, resource, namespace, output)
    elif resource == "dns":
        records = dns_records.records(plan)
        if output == "json":
            print_json(records)
            return
        print_table(["ZONE", "NAME", "TYPE", "TTL", "VALUE"], [
            [f"{r['zone']}{' (private)' if r['private'] else ''}", r["name"], r["type"],
             r["ttl"] if r["ttl"] is not None else "-", dns_records.value(r)]
            for r in records
        ])
    elif resource in ("ingress", "ingresses", "ing"):
        records = edge_records.ingresses(plan, namespace)
        if output == "json":
            print_json(records)
            return
        print_table(["NAMESPACE", "NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS"], [
            [r["namespace"], r["name"], r["class"] or "<none>", ",".join(r["hosts"]) or "*",
             r["address"] or "", ", ".join(str(p) for p in r["ports"])]
            for r in records
        ])
    elif resource in ("certificates", "certificate", "cert"):
        records = edge_records.certificates(plan)
        if output == "json":
            print_json(records)
            return
        print_table(["ARN", "DOMAINS", "SOURCE", "IN USE BY"], [
            [r["arn"], ",".join(r["domains"]), r["source"], ",".join(r["inUseBy"]) or "-"] for r in records
        ])
        if records:
            root = acm.root_path(Path(StateDir(plan.name).path))
            click.echo(f"\nissued by the emulation's public root, which the outside client trusts: {root}")
    elif resource in ("nodes", "node"):
        records = [node_record(plan, n.name) for n in plan.nodes]
        if output == "json":
            print_json(records)
            return
        columns = ["NAME", "STATUS", "ZONE", "SUBNET", "IP", "PODS"]
        rows = [[r["name"], r["status"], r["zone"], r["subnet"], r["ip"], r["pods"]] for r in records]
        if output == "wide":
            columns += ["POD-CIDR", "NETNS"]
            for row, record in zip(rows, records):
                row += [record["podCIDR"] or "-", record["netns"]]
        print_table(columns, rows)
    elif resource in ("cronjobs", "cronjob", "cj"):
        cron_jobs = [c for c in plan.cron_jobs if namespace in (None, c.namespace)]
        if output == "json":
            print_json([{"namespace": c.namespace, "name": c.name, "schedule": c.schedule} for c in cron_jobs])
            return
        print_table(["NAMESPACE", "NAME", "SCHEDULE", "TRIGGER"], [
            [c.namespace, c.name, c.schedule, f"dpctl create job -n {c.namespace} NAME --from=cronjob/{c.name}"]
            for c in cron_jobs
        ])
    elif resource in ("pods", "pod"):
        pods = [p for p in plan.pods if namespace in (None, p.namespace)]
        exited = _exited(plan)
        if output == "json":
            print_json([{**pod_record(p), "status": _pod_status(p, exited)} for p in pods])
            return
        columns = ["NAMESPACE", "NAME", "READY", "STATUS", "IP", "NODE"]
        rows = []
        for p in pods:
            status = _pod_status(p, exited)
            running = p.ready and status not in ("Completed", "Error")
            containers = 2 if has_sidecar(plan, p) else 1  # the injected istio-proxy counts, as kubectl shows it
            rows.append([p.namespace, p.name, f"{containers if running else 0}/{containers}", status, p.ip, p.node])
        if output == "wide":
            columns += ["ZONE", "NETNS", "HOST-IFACE"]
            for row, pod in zip(rows, pods):
                row += [pod.zone, pod.netns, pod.host_iface]
        print_table(columns, rows)
    else:
        services = [s for s in plan.services if namespace in (None, s.namespace)]
        hostnames = nlb_hostnames(plan)
        if output == "json":
            print_json([service_record(s, hostnames.get(s.key)) for s in services])
            return
        columns = ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
        rows = [
            [
                s.namespace,
                s.name,
                s.type,
                "None" if s.headless else (s.cluster_ip or "<none>"),
                external_address(s, hostnames.get(s.key)),
                service_ports(s),
            ]
            for s in services
        ]
        if output == "wide":
            columns.append("SELECTOR")
            for row, service in zip(rows, services):
                row.append(",".join(f"{k}={v}" for k, v in sorted(service.selector.items())) or "<none>")
        print_table(columns, rows)
