"""Pod and controller documents → bare pods, and controllers with a pod template.

A controller (Deployment, ReplicaSet, StatefulSet, DaemonSet) stays one object
here, its template checked once; ``workloads`` turns it into pods, because
how many and which ones also depends on live changes (and, for a DaemonSet,
on the nodes).  The container ports are resolved to their built-in responders here,
since that depends only on the pod's own manifest.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from .model import ControllerSpec, CronJobSpec, Manifest, ObjectRef, Origin, PodTemplate, report_duplicates
from .plan import Container, ContainerPort
from .rules import apply, check_labels, check_name, dns_1035_label, dns_label, dns_subdomain, port_name, port_number
from .schema import valid_items
from .yamlsource import child_path, item_path

TCP_ECHO_ANNOTATION = "dpctl.dev/tcp-echo-ports"
SERVER_FIRST_ANNOTATION = "dpctl.dev/server-first-ports"


def parse_pod(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    name = check_name(dns_subdomain, metadata.get("name"), "metadata.name", origin.report)
    template = _template(origin, metadata, "metadata", clean.get("spec", {}), "spec")
    if name is None:
        return
    manifest.objects.append(ObjectRef(origin, "Pod", template.namespace, name))
    conditions = [c for _, c in valid_items(clean.get("status", {}).get("conditions", []))]
    ready = not any(c.get("type") == "Ready" and c.get("status") == "False" for c in conditions)
    manifest.workloads.append(template.pod(name, f"Pod/{name}", ready, terminating="deletionTimestamp" in metadata))


INT32_MAX = 2**31 - 1


def parse_controller(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A Deployment, ReplicaSet, StatefulSet or DaemonSet (``origin.kind``)."""
    kind = origin.kind or "Deployment"
    report = origin.report
    metadata = clean.get("metadata", {})
    name = check_name(dns_subdomain, metadata.get("name"), "metadata.name", report)
    spec = clean.get("spec", {})
    replicas = spec.get("replicas", 1) if kind != "DaemonSet" else 0
    if replicas < 0:
        report("spec.replicas", f"must not be negative, got {replicas}")
    elif replicas > INT32_MAX:  # the API server decodes replicas as an int32
        report("spec.replicas", f"must be at most {INT32_MAX} (a 32-bit integer), got {replicas}")
        replicas = 0
    template = _controller_template(origin, metadata, spec, "spec")
    selector = spec.get("selector", {}).get("matchLabels")
    if selector is not None:
        check_labels(selector, "spec.selector.matchLabels", report)
        if not selector:
            report("spec.selector.matchLabels", "must not be empty: an empty selector would select every pod")
        elif any(template.labels.get(k) != v for k, v in selector.items()):
            report("spec.template.metadata.labels", "selector does not match template labels")
    service_name = check_name(dns_1035_label, spec.get("serviceName"), "spec.serviceName", report)
    if service_name:  # a StatefulSet's pods are <pod>.<serviceName>.<namespace>.svc under its headless Service
        template = dataclasses.replace(template, subdomain=service_name)
    if name is None:
        return
    manifest.objects.append(ObjectRef(origin, kind, template.namespace, name))
    manifest.workloads.append(
        ControllerSpec(origin, template.namespace, name, max(replicas, 0), template, kind, service_name)
    )


def parse_job(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A Job: ``parallelism`` pods at once (no more than ``completions``), each running its command once."""
    metadata = clean.get("metadata", {})
    name = check_name(dns_label, metadata.get("name"), "metadata.name", origin.report)
    spec = clean.get("spec", {})
    count = _job_pods(spec, "spec", origin)
    template = _controller_template(origin, metadata, spec, "spec")
    if name is not None:
        manifest.objects.append(ObjectRef(origin, "Job", template.namespace, name))
        manifest.workloads.append(ControllerSpec(origin, template.namespace, name, count, template, "Job"))


def parse_cron_job(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """A CronJob: its schedule is noted, and it makes a Job only when ``dpctl create job --from`` triggers it."""
    metadata = clean.get("metadata", {})
    name = check_name(dns_label, metadata.get("name"), "metadata.name", origin.report)
    spec = clean.get("spec", {})
    schedule = spec.get("schedule")
    if schedule is not None and not _cron_schedule(schedule):
        origin.report("spec.schedule", f"'{schedule}' is not a cron schedule: five fields, or @hourly, @daily, ...")
    job = spec.get("jobTemplate", {}).get("spec", {})
    count = _job_pods(job, "spec.jobTemplate.spec", origin)
    template = _controller_template(origin, metadata, job, "spec.jobTemplate.spec")
    if name is not None:
        manifest.objects.append(ObjectRef(origin, "CronJob", template.namespace, name))
        manifest.cron_jobs.append(CronJobSpec(origin, template.namespace, name, schedule or "", count, template))


_CRON_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


def _cron_schedule(text: str) -> bool:
    """Five fields of the characters cron uses, or a macro (the API server parses it fully)."""
    fields = text.split()
    if fields and fields[0].startswith(("CRON_TZ=", "TZ=")):
        fields = fields[1:]
    if len(fields) == 1 and fields[0] in _CRON_MACROS:
        return True
    allowed = set("0123456789*/,-?LW#") | set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    return len(fields) == 5 and all(set(f) <= allowed for f in fields)


def _job_pods(spec: dict[str, Any], path: str, origin: Origin) -> int:
    parallelism, completions = spec.get("parallelism", 1), spec.get("completions")
    for field, value in (("parallelism", parallelism), ("completions", completions)):
        if value is not None and not 0 <= value <= INT32_MAX:
            origin.report(f"{path}.{field}", f"must be between 0 and {INT32_MAX}, got {value}")
            return 0
    return parallelism if completions is None else min(parallelism, completions)


def _controller_template(origin: Origin, metadata: dict[str, Any], spec: dict[str, Any], path: str) -> PodTemplate:
    """The pod template of a controller's ``spec`` at ``path``, its pods in the controller's namespace."""
    raw = spec.get("template", {})
    pod_metadata = {"namespace": metadata.get("namespace", "default"), **raw.get("metadata", {})}
    template = _template(origin, pod_metadata, f"{path}.template.metadata", raw.get("spec", {}), f"{path}.template.spec")
    check_labels(template.labels, f"{path}.template.metadata.labels", origin.report)
    check_labels(template.annotations, f"{path}.template.metadata.annotations", origin.report, values=False)
    return template


def _template(
    origin: Origin, metadata: dict[str, Any], metadata_path: str, spec: dict[str, Any], spec_path: str
) -> PodTemplate:
    report = origin.report
    labels, annotations = metadata.get("labels", {}), metadata.get("annotations", {})
    annotated = _annotated_ports(annotations, metadata_path, origin)
    containers = valid_items(spec.get("containers", []))
    _check_unique(containers, spec_path, origin)
    node_selector = spec.get("nodeSelector", {})
    check_labels(node_selector, f"{spec_path}.nodeSelector", report)
    account_field = "serviceAccountName" if "serviceAccountName" in spec else "serviceAccount"
    return PodTemplate(
        origin=origin,
        spec_path=spec_path,
        namespace=metadata.get("namespace", "default"),
        labels=labels,
        annotations=annotations,
        node_name=spec.get("nodeName"),
        node_selector=node_selector,
        service_account=check_name(
            dns_subdomain, spec.get(account_field, "default"), f"{spec_path}.{account_field}", report
        )
        or "default",
        hostname=check_name(dns_label, spec.get("hostname"), f"{spec_path}.hostname", report),
        # An endpoint is named by its hostname only when the pod sets one explicitly (a
        # StatefulSet sets its pods' names); a subdomain alone names nothing.
        subdomain=(check_name(dns_label, spec.get("subdomain"), f"{spec_path}.subdomain", report) or "")
        if spec.get("hostname")
        else "",
        containers=tuple(
            _container(raw, item_path(f"{spec_path}.containers", i), annotated, origin)
            for i, raw in containers
            if "name" in raw  # the schema reported a container without one
        ),
    )


class _AnnotatedPorts(NamedTuple):
    """Ports the pod's annotations hand to a responder other than the one their name implies."""

    echo: frozenset[int]
    server_first: frozenset[int]


def _annotated_ports(annotations: dict[str, str], metadata_path: str, origin: Origin) -> _AnnotatedPorts:
    echo = _listed_ports(annotations, TCP_ECHO_ANNOTATION, metadata_path, origin)
    server_first = _listed_ports(annotations, SERVER_FIRST_ANNOTATION, metadata_path, origin)
    for port in sorted(echo & server_first):  # one port, one responder
        origin.report(
            child_path(f"{metadata_path}.annotations", SERVER_FIRST_ANNOTATION),
            f"port {port} is also listed in {TCP_ECHO_ANNOTATION}",
        )
    return _AnnotatedPorts(echo, server_first)


def _listed_ports(annotations: dict[str, str], annotation: str, metadata_path: str, origin: Origin) -> frozenset[int]:
    """The ports ``annotation`` lists, comma-separated."""
    text = annotations.get(annotation)
    if text is None:
        return frozenset()
    ports = set()
    for item in (part.strip() for part in text.split(",")):
        if item.isdigit() and 1 <= int(item) <= 65535:
            ports.add(int(item))
        else:
            origin.report(
                child_path(f"{metadata_path}.annotations", annotation),
                f"expected comma-separated port numbers (1-65535), got {item!r}",
            )
    return frozenset(ports)


def _container(raw: dict[str, Any], path: str, annotated: _AnnotatedPorts, origin: Origin) -> Container:
    report = origin.report
    ports = []
    for i, port in valid_items(raw.get("ports", [])):
        port_path = item_path(f"{path}.ports", i)
        number = apply(port_number, port.get("containerPort"), f"{port_path}.containerPort", report)
        name = check_name(port_name, port.get("name"), f"{port_path}.name", report)
        protocol = port.get("protocol", "TCP")
        if number is not None:
            ports.append(ContainerPort(number, protocol, name, _responder(number, protocol, name, annotated)))
    apply(dns_label, raw["name"], f"{path}.name", report)
    return Container(
        name=raw["name"],
        ports=tuple(ports),
        command=(*raw.get("command", ()), *raw.get("args", ())),
    )


EXT_AUTHZ_PORT_NAMES = ("ext-authz", "http-ext-authz")


def _responder(port: int, protocol: str, name: str | None, annotated: _AnnotatedPorts) -> str:
    """The built-in server for a port: UDP echo, Istio's sample external
    authorizer for a port named for it, a server that speaks first (as MySQL
    does) for a MySQL port, TCP echo for raw-TCP protocols, else HTTP.

    Only names and annotations choose, never the number: a plain port stays
    HTTP whatever Istio assumes of 3306 (``dataplane.mesh.protocols``)."""
    if protocol == "UDP":
        return "udp-echo"
    if name in EXT_AUTHZ_PORT_NAMES:
        return "ext-authz"
    if (name is not None and _is_mysql(name)) or port in annotated.server_first:
        return "server-first"
    if (name is not None and (name == "tcp" or name.startswith("tcp-"))) or port in annotated.echo:
        return "tcp-echo"
    return "http"


def _is_mysql(name: str) -> bool:
    """``mysql`` or ``mysql-<suffix>``, alone or after Istio's ``tcp-`` prefix."""
    protocol = name.removeprefix("tcp-")
    return protocol == "mysql" or protocol.startswith("mysql-")


def _check_unique(containers: list[tuple[int, dict[str, Any]]], spec_path: str, origin: Origin) -> None:
    """Container names, port numbers (per protocol) and port names are unique within a pod."""
    names, numbers, port_names = [], [], []
    for i, container in containers:
        path = item_path(f"{spec_path}.containers", i)
        if "name" in container:
            names.append((container["name"], origin, f"{path}.name", f"container name '{container['name']}'"))
        for j, port in valid_items(container.get("ports", [])):
            port_path = item_path(f"{path}.ports", j)
            if "containerPort" in port:
                number = f"{port['containerPort']}/{port.get('protocol', 'TCP')}"
                numbers.append((number, origin, f"{port_path}.containerPort", f"containerPort {number} in this pod"))
            if "name" in port:
                name = port["name"]
                port_names.append((name, origin, f"{port_path}.name", f"port name '{name}' in this pod"))
    for entries in (names, numbers, port_names):
        report_duplicates(entries)
