"""The change lock: one holder at a time, waiters told who holds it, no lock
outliving its holder or its emulation (real flocks, real processes; no root)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from dataplane.errors import StateError
from dataplane.state.lock import change_lock, lock_path
from dataplane.state.store import StateDir
from dataplane.topology.sources import Source
from tests.unit.state.conftest import SAMPLE_PLAN

_CTX = multiprocessing.get_context("fork")


def _hold(name: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with change_lock(name, "dpctl scale shop/web 5", timeout=5):
        ready.set()
        release.wait(30)


def _start_holder(name: str) -> tuple[multiprocessing.Process, multiprocessing.synchronize.Event]:
    ready, release = _CTX.Event(), _CTX.Event()
    holder = _CTX.Process(target=_hold, args=(name, ready, release))
    holder.start()
    assert ready.wait(10), "the holder never got the lock"
    return holder, release


def test_a_second_command_waits_names_the_holder_and_gives_up(state_root: Path) -> None:
    StateDir("shop").create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    holder, release = _start_holder("shop")
    told: list[str] = []
    try:
        started = time.monotonic()
        with (
            pytest.raises(StateError) as caught,
            change_lock("shop", "dpctl scale shop/web 2", timeout=0.3, notify=told.append),
        ):
            pytest.fail("two holders at once")
        assert time.monotonic() - started >= 0.3
    finally:
        release.set()
        holder.join(10)
    message = str(caught.value)
    assert f"pid {holder.pid} (dpctl scale shop/web 5)" in message and "gave up waiting after 0.3 s" in message
    assert told and f"pid {holder.pid}" in told[0] and "waiting" in told[0]


def test_the_waiter_proceeds_once_the_holder_is_done(state_root: Path) -> None:
    StateDir("shop").create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    holder, release = _start_holder("shop")
    _CTX.Process(target=lambda: (time.sleep(0.2), release.set())).start()
    with change_lock("shop", "second", timeout=10):
        assert release.is_set(), "got the lock while the first holder still held it"
    holder.join(10)


def test_a_killed_holder_never_leaves_the_emulation_locked(state_root: Path) -> None:
    StateDir("shop").create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    holder, _release = _start_holder("shop")
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with change_lock("shop", "after kill -9", timeout=2):
        pass


def test_the_lock_file_goes_with_the_emulation(state_root: Path) -> None:
    StateDir("shop").create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    with change_lock("shop", "dpctl down shop", timeout=1):
        assert Path(lock_path("shop")).exists()
        StateDir("shop").remove()
    assert not Path(lock_path("shop")).exists()
    assert list(state_root.iterdir()) == []


def test_a_command_on_an_emulation_that_is_not_up_leaves_no_lock_file(state_root: Path) -> None:
    with change_lock("ghost", "dpctl scale -t ghost a/b 1", timeout=1):
        pass
    assert list(state_root.iterdir()) == []


def test_a_waiter_on_a_removed_lock_file_takes_a_fresh_one(state_root: Path) -> None:
    """``down`` removes the lock file it holds; a waiter that got the flock of the
    removed file must not act beside a newcomer holding the new file."""
    StateDir("shop").create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    ready, release = _CTX.Event(), _CTX.Event()

    def down() -> None:
        with change_lock("shop", "dpctl down shop", timeout=5):
            ready.set()
            release.wait(30)
            StateDir("shop").remove()

    remover = _CTX.Process(target=down)
    remover.start()
    assert ready.wait(10)
    _CTX.Process(target=lambda: (time.sleep(0.2), release.set())).start()
    with change_lock("shop", "dpctl up shop.yaml", timeout=10):
        assert not StateDir("shop").exists()
        # Had we kept the flock of the removed file, nothing would be at the path.
        assert Path(lock_path("shop")).exists()
    remover.join(10)
    assert remover.exitcode == 0


def test_a_bad_timeout_setting_is_an_input_error(state_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataplane.errors import InputError

    for bad in ("nan", "-1", "soon", "inf"):
        monkeypatch.setenv("DPCTL_LOCK_TIMEOUT", bad)
        with pytest.raises(InputError, match="DPCTL_LOCK_TIMEOUT"), change_lock("shop", "x"):
            pass


def test_the_lock_is_reentrant_within_one_process(state_root: Path) -> None:
    """``dpctl down`` holds the lock and then calls teardown, which takes it too."""
    StateDir("shop").create(SAMPLE_PLAN, [Source("shop.yaml", "text")])
    with change_lock("shop", "outer", timeout=1):
        with change_lock("shop", "inner", timeout=0.1):
            StateDir("shop").remove()
        assert Path(lock_path("shop")).exists(), "the inner exit must not release the outer hold"
    assert not Path(lock_path("shop")).exists()
