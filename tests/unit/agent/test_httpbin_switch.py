"""The responder's ``/dpctl/fail/<seconds>`` switch: one pod answers 503 for a while (no sockets)."""

from __future__ import annotations

import pytest

from dataplane.agent import httpbin
from dataplane.agent.httpbin import PodAnswers, Request
from tests.unit.agent.samples import pod


def _status(answers: PodAnswers, path: str) -> int:
    return answers.answer(Request("GET", path, "web", (), 0, ("10.0.0.9", 40000), 8080)).status


def test_the_switch_fails_that_pod_only_for_the_seconds_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(httpbin.time, "monotonic", lambda: now[0])
    failing, other = PodAnswers(pod("switch-a")), PodAnswers(pod("switch-b"))
    assert _status(failing, "/dpctl/fail/10") == 200
    assert (_status(failing, "/healthz"), _status(failing, "/status/200"), _status(other, "/healthz")) == (503, 503, 200)
    now[0] += 10
    assert _status(failing, "/healthz") == 200
    assert (_status(failing, "/dpctl/fail/60"), _status(failing, "/dpctl/fail/0"), _status(failing, "/x")) == (200, 200, 200)
    assert _status(failing, "/dpctl/fail/soon") == 400
