"""Topology input as users keep it: several files, directories, stdin, JSON, ``kind: List``."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_sources, read_sources
from dataplane.topology.limits import Limits
from dataplane.topology.sources import Source

APP = """# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
"""


def test_a_directory_gives_its_manifest_files_in_name_order(tmp_path: Path, topology: Callable[..., str]) -> None:
    (tmp_path / "b.yaml").write_text(APP)
    (tmp_path / "a.yml").write_text(topology())
    (tmp_path / "c.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}))
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.yaml").write_text("kind: Nope\n")
    sources = read_sources([str(tmp_path)])
    assert [Path(s.name).name for s in sources] == ["a.yml", "b.yaml", "c.json"]
    plan = plan_from_sources(sources)
    assert {p.name for p in plan.pods} >= {"web-0", "web-1"} and "x" in {n.name for n in plan.namespaces}
    assert plan.source == ", ".join(s.name for s in sources)


def test_standard_input_is_one_more_input(tmp_path: Path, topology: Callable[..., str]) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(topology())
    sources = read_sources([str(path), "-"], stdin=io.BytesIO(APP.encode()))
    assert [s.name for s in sources] == [str(path), "<stdin>"]
    assert len([p for p in plan_from_sources(sources).pods if p.owner == "Deployment/web"]) == 2


def test_a_problem_is_reported_in_the_input_it_is_in(topology: Callable[..., str]) -> None:
    broken = APP.replace("replicas: 2", "replicas: two")
    with pytest.raises(TopologyError) as caught:
        plan_from_sources([Source("topology.yaml", topology()), Source("<stdin>", broken)])
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == ("<stdin>", 6, "spec.replicas")


def test_problems_are_ordered_by_input_then_line(topology: Callable[..., str]) -> None:
    bad = "apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad}\n"
    with pytest.raises(TopologyError) as caught:
        plan_from_sources([Source("z.yaml", bad), Source("a.yaml", topology() + "---\n" + bad)])
    files = [p.file for p in caught.value.problems]
    assert files[0] == "z.yaml" and set(files[1:]) == {"a.yaml"}


def test_a_json_list_is_read_item_by_item(topology: Callable[..., str]) -> None:
    items = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCPX"}]}},
    ]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2)
    with pytest.raises(TopologyError) as caught:
        plan_from_sources([Source("t.yaml", topology()), Source("list.json", text)])
    [problem] = caught.value.problems
    assert (problem.file, problem.kind, problem.name, problem.path) == ("list.json", "Service", "shop/web", "spec.ports[0].protocol")
    assert problem.line == 26  # the line of "protocol" in the JSON text
    items[1]["spec"]["ports"][0]["protocol"] = "TCP"
    plan = plan_from_sources([Source("t.yaml", topology()), Source("list.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))])
    assert "shop/web" in {s.key for s in plan.services}


def test_the_limit_covers_every_input_together(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("#" * 600)
    with pytest.raises(TopologyError, match="larger than 1,000 bytes"):
        read_sources([str(tmp_path)], limits=Limits(file_bytes=1000))


def test_an_empty_directory_and_a_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="holds no .yaml, .yml, .json file"):
        read_sources([str(tmp_path)])
    with pytest.raises(TopologyError, match="cannot read the file: No such file or directory"):
        read_sources([str(tmp_path / "nope.yaml")])
