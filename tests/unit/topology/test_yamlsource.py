from __future__ import annotations

from dataplane.topology.yamlsource import child_path, parent_path, read_documents


def test_records_the_line_of_every_field_path() -> None:
    text = "a: 1\n---\nspec:\n  containers:\n    - name: x\n      ports:\n        - {containerPort: 80}\n"
    documents, error = read_documents(text)
    assert error is None
    second = documents[1]
    assert second.index == 2
    assert second.data == {"spec": {"containers": [{"name": "x", "ports": [{"containerPort": 80}]}]}}
    assert second.lines["spec.containers[0].ports[0].containerPort"] == 7
    assert second.line_of("spec.containers[0].ports[0].missing") == 7
    assert second.line_of("spec.containers[0].image") == 5


def test_keys_that_are_not_identifiers_are_quoted_in_paths() -> None:
    [document], _ = read_documents("metadata:\n  labels:\n    app.kubernetes.io/name: x\n")
    assert document.lines['metadata.labels["app.kubernetes.io/name"]'] == 3
    assert parent_path('metadata.labels["app.kubernetes.io/name"]') == "metadata.labels"
    assert parent_path("a.b[2]") == "a.b" and parent_path("a.b") == "a" and parent_path("a") == ""
    assert child_path("", "kind") == "kind"


def test_empty_documents_are_skipped_but_counted() -> None:
    documents, _ = read_documents("a: 0\n---\n---\nb: 1\n")
    assert [d.index for d in documents] == [1, 3]


def test_a_duplicate_key_is_a_defect_and_the_first_value_stays() -> None:
    [document], _ = read_documents("a: 1\nb: 2\na: 3\n")
    assert document.data == {"a": 1, "b": 2}
    [defect] = document.defects
    assert (defect.path, defect.line, defect.message) == ("a", 3, "duplicate key 'a' (first at line 1)")


def test_merge_keys_are_resolved_and_own_keys_override_them() -> None:
    [document], _ = read_documents("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n")
    assert document.data["thing"] == {"x": 1, "y": 3}
    assert document.defects == []


def test_a_syntax_error_keeps_the_documents_before_it() -> None:
    documents, error = read_documents("a: 1\n---\nb: [1\n")
    assert [d.data for d in documents] == [{"a": 1}]
    assert error is not None
    assert error.document == 2 and error.line == 4
    assert error.message.startswith("invalid YAML: ")


def test_a_recursive_alias_is_a_defect_not_a_hang() -> None:
    [document], _ = read_documents("&a [*a]\n")
    assert document.defects[0].message == "an alias refers to itself (recursive YAML)"


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    documents, problem = read_documents("\n".join(lines))
    assert documents == [] and problem is not None
    assert "more than 250,000 YAML nodes" in problem.message and "DPCTL_LIMIT_YAML_NODES" in problem.message


def test_aliases_within_the_budget_are_expanded() -> None:
    [document], problem = read_documents("a: &a [1, 2]\nb: [*a, *a]\n")
    assert problem is None and document.data == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


def test_the_node_budget_is_shared_by_every_document() -> None:
    from dataplane.topology.limits import Limits

    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n---\nc: &c [1, 2, 3]\nd: [*c, *c]\n"
    documents, problem = read_documents(text, Limits(yaml_nodes=20))
    assert len(documents) == 1 and problem is not None and problem.document == 2


def test_nesting_beyond_the_depth_limit_is_a_defect_not_a_recursion_error() -> None:
    deep = "".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "b\n"
    [document], problem = read_documents(deep)
    assert problem is None
    [defect] = document.defects
    assert "nested more than 100 levels deep" in defect.message and "DPCTL_LIMIT_YAML_DEPTH" in defect.message
    flow = "x: &x 1\ny: " + "[" * 500 + "*x" + "]" * 500 + "\n"
    _, problem = read_documents(flow)
    assert problem is not None and "levels deep" in problem.message


def test_typed_scalars_that_cannot_be_constructed_are_defects_of_their_field() -> None:
    cases = {
        "!!int abc": "cannot read 'abc' as int",
        "!!bool maybe": "cannot read 'maybe' as bool",
        "!!timestamp nope": "cannot read 'nope' as timestamp",
        "2024-02-30": "cannot read '2024-02-30' as timestamp: day is out of range for month",
        "0x_": "cannot read '0x_' as int",
        "!!python/object:os.system x": "could not determine a constructor",
    }
    for value, message in cases.items():
        [document], problem = read_documents(f"spec:\n  field: {value}\n")
        assert problem is None
        [defect] = document.defects
        assert defect.path == "spec.field" and defect.line == 2 and message in defect.message, (value, defect)
