"""The state directory: names that cannot leave the state root, and removal
only of what provably belongs to an emulation (no root needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dataplane.errors import InputError
from dataplane.state import store
from dataplane.state.store import StateDir, emulation_name, emulation_names
from dataplane.topology.overrides import Overrides
from dataplane.topology.sources import Source
from tests.unit.state.conftest import SAMPLE_PLAN

HOSTILE_NAMES = [
    "",
    ".",
    "..",
    "../x",
    "../..",
    "/",
    "/etc",
    "/tmp/victim",
    "a/b",
    "x\0y",
    "x\n",
    "web\n",
    "\nweb",
    "Web",
    "a.b",
    "-a",
    "a" * 41,
    " x",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_is_not_a_short_dns_label_is_refused_before_any_path(name: str) -> None:
    with pytest.raises(InputError, match="DNS-1123 label"):
        emulation_name(name, "NAME")
    with pytest.raises(InputError):
        StateDir(name)


@pytest.mark.parametrize("name", ["a", "retail-store", "x" * 40, "0-9"])
def test_short_dns_labels_are_names(name: str) -> None:
    assert StateDir(name).path == os.path.join(store.state_root(), name)


def test_the_error_names_where_the_name_came_from() -> None:
    with pytest.raises(InputError, match=r"^-t/--topology: '\.\./x' is not"):
        emulation_name("../x", "-t/--topology")


def test_a_created_state_directory_is_marked_and_removed(state_root: Path) -> None:
    state = StateDir("shop")
    state.create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    assert state.owned()
    assert json.loads(Path(state.marker_path).read_text())["name"] == "shop"
    assert emulation_names() == ["shop"]
    assert state.remove()
    assert not Path(state.path).exists()


def test_a_directory_without_the_marker_is_never_removed(state_root: Path) -> None:
    foreign = state_root / "shop"
    foreign.mkdir()
    (foreign / "precious").write_text("keep me")
    assert not StateDir("shop").owned()
    assert StateDir("shop").remove() is False
    assert (foreign / "precious").read_text() == "keep me"
    assert emulation_names() == []


def test_a_marker_naming_another_emulation_is_not_proof(state_root: Path) -> None:
    foreign = state_root / "shop"
    foreign.mkdir()
    (foreign / store.MARKER).write_text(json.dumps({"name": "other"}))
    (foreign / "precious").write_text("keep me")
    assert StateDir("shop").remove() is False
    assert (foreign / "precious").exists()


def test_a_symlink_in_place_of_the_state_directory_is_not_followed(state_root: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / store.MARKER).write_text(json.dumps({"name": "shop"}))  # even a forged marker behind a link
    (victim / "precious").write_text("keep me")
    (state_root / "shop").symlink_to(victim)
    assert StateDir("shop").remove() is False
    assert (victim / "precious").read_text() == "keep me"


def test_an_empty_directory_left_before_the_marker_was_written_is_removed(state_root: Path) -> None:
    (state_root / "shop").mkdir()
    assert StateDir("shop").remove()
    assert not (state_root / "shop").exists()


def test_create_refuses_an_existing_directory_and_touches_nothing(state_root: Path) -> None:
    (state_root / "shop").mkdir()
    (state_root / "shop" / "precious").write_text("keep me")
    with pytest.raises(Exception, match="already up"):
        StateDir("shop").create(SAMPLE_PLAN, "text")
    assert (state_root / "shop" / "precious").exists()


def test_state_files_are_replaced_whole(state_root: Path) -> None:
    state = StateDir("shop")
    state.create(SAMPLE_PLAN, [Source("a.yaml", "first")])
    state.save_inputs([Source("a.yaml", "second"), Source("<stdin>", "third")], Overrides(replicas={"a/b": 2}))
    assert state.load_sources() == [Source("a.yaml", "second"), Source("<stdin>", "third")]
    assert state.load_overrides().replicas == {"a/b": 2}
    assert not [n for n in os.listdir(state.path) if n.endswith(".tmp")]


def test_a_damaged_plan_is_a_clear_error(state_root: Path) -> None:
    state = StateDir("shop")
    state.create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    Path(state.plan_path).write_text("{not json")
    with pytest.raises(Exception, match="damaged"):
        state.load_plan()
