"""Which built-in responder serves a container port: names and annotations choose, numbers never do."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text

from .conftest import user_pods


def _pod(ports: str, annotations: str = "") -> str:
    return f"""---
apiVersion: v1
kind: Pod
metadata:
  name: db
  annotations: {{{annotations}}}
spec:
  containers:
    - name: db
      ports:
{ports}"""


def _responders(topology: Callable[..., str], ports: str, annotations: str = "") -> dict[int, str]:
    [pod] = user_pods(plan_from_text(topology() + _pod(ports, annotations), "t.yaml"))
    return {port.port: port.responder for port in pod.ports}


def test_mysql_names_speak_first_and_other_tcp_names_echo(topology: Callable[..., str]) -> None:
    ports = "".join(
        f"        - {{name: {name}, containerPort: {number}}}\n"
        for name, number in (
            ("mysql", 3306),
            ("tcp-mysql", 3307),
            ("mysql-replica", 3308),
            ("tcp-mysql-admin", 3309),
            ("mysqlx", 33060),
            ("tcp-db", 5432),
            ("http", 8080),
        )
    )
    assert _responders(topology, ports) == {
        3306: "server-first",
        3307: "server-first",
        3308: "server-first",
        3309: "server-first",
        33060: "http",  # not MySQL's name, and a name that says nothing means HTTP
        5432: "tcp-echo",
        8080: "http",
    }


def test_unnamed_server_first_numbers_stay_http(topology: Callable[..., str]) -> None:
    """Istio assumes 3306/27017/25 are TCP; the responder follows the manifest only."""
    ports = "".join(f"        - {{containerPort: {n}}}\n" for n in (25, 3306, 27017))
    assert set(_responders(topology, ports).values()) == {"http"}


def test_the_annotation_makes_any_tcp_port_speak_first(topology: Callable[..., str]) -> None:
    ports = (
        "        - {name: db, containerPort: 5432}\n"
        "        - {name: tcp-db, containerPort: 5433}\n"
        "        - {containerPort: 6379}\n"
        "        - {name: dns, containerPort: 5432, protocol: UDP}\n"
    )
    annotations = 'dpctl.dev/server-first-ports: "5432, 5433", dpctl.dev/tcp-echo-ports: "6379"'
    [pod] = user_pods(plan_from_text(topology() + _pod(ports, annotations), "t.yaml"))
    assert [(p.port, p.protocol, p.responder) for p in pod.ports] == [
        (5432, "TCP", "server-first"),
        (5433, "TCP", "server-first"),  # the annotation wins over the tcp- name's echo
        (6379, "TCP", "tcp-echo"),
        (5432, "UDP", "udp-echo"),  # UDP is always echoed
    ]


def test_annotated_ports_must_be_port_numbers(topology: Callable[..., str]) -> None:
    """Word for word in errors/server-first-*.txt; here: the range, and where the problem points."""
    ports = "        - {name: db, containerPort: 3306}\n"
    with pytest.raises(TopologyError, match="got '70000'") as raised:
        plan_from_text(topology() + _pod(ports, 'dpctl.dev/server-first-ports: "70000"'), "t.yaml")
    [problem] = raised.value.problems
    assert problem.path == 'metadata.annotations["dpctl.dev/server-first-ports"]'
