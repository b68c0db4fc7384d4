"""What reaches a user when a command fails: one line and an exit code, never a traceback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from dataplane import cli
from dataplane.errors import InputError, StateError


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, BaseException]]:
    """A command ``boom`` that raises whatever the test puts in the dict."""
    raised: dict[str, BaseException] = {}

    @click.command("boom")
    def boom() -> None:
        raise raised["error"]

    cli.cli.add_command(boom)
    monkeypatch.setattr("sys.argv", ["dpctl", "boom"])
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    try:
        yield raised
    finally:
        cli.cli.commands.pop("boom")


def _run(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main()
    code = exited.value.code
    return int(code) if isinstance(code, int) else 1, capsys.readouterr().err


def test_a_bug_is_one_line_with_a_log_of_its_traceback(failing, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    failing["error"] = ZeroDivisionError("division by zero")
    code, err = _run(capsys)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("dpctl: internal error (a bug in dpctl, please report it): ZeroDivisionError: division by zero")
    log = Path(re.search(r"traceback in (\S+)", err).group(1))  # type: ignore[union-attr]
    assert log.parent == tmp_path and (log.stat().st_mode & 0o777) == 0o600
    text = log.read_text()
    assert "command: 'dpctl boom'" in text and "Traceback" in text and "ZeroDivisionError" in text


@pytest.mark.parametrize(("error", "code"), [(InputError("bad name"), 2), (StateError("not up"), 1)])
def test_an_explained_failure_is_its_message_and_exit_code(failing, capsys, error: Exception, code: int) -> None:  # type: ignore[no-untyped-def]
    failing["error"] = error
    assert _run(capsys) == (code, f"dpctl: {error}\n")


def test_ctrl_c_is_quiet(failing, capsys) -> None:  # type: ignore[no-untyped-def]
    failing["error"] = KeyboardInterrupt()
    code, err = _run(capsys)
    assert code == 130 and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["trace", "a/b", "c/d", "--timeout", "nan"],
        ["trace", "a/b", "c/d", "--timeout", "-1"],
        ["trace", "a/b", "c/d", "--timeout", "0"],
        ["capture", "x/y", "-d", "inf"],
        ["scale", "a/b", "99999999999999999999999"],
        ["scale", "a/b", "--", "-1"],
    ],
)
def test_numeric_options_are_checked_before_anything_runs(args: list[str], monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.argv", ["dpctl", *args])
    code, err = _run(capsys)
    assert code == 2 and "Invalid value" in err and "Traceback" not in err
