"""Routes and policies survive plan.json: to JSON text and back, identical."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from dataplane.l7.routing import table
from dataplane.l7.routing.codec import from_json, to_json
from dataplane.l7.routing.model import Attachment, DirectResponse, HostPolicy, Route

from .helpers import PARENT, REVIEWS, destination_rule, http_route, virtual_service


def round_trip(kind: type, value: object) -> object:
    text = json.dumps(to_json(value), sort_keys=False)
    return from_json(kind, json.loads(text))


def test_httproute_attachments_round_trip() -> None:
    attachments = http_route(PARENT + """
rules:
- matches: [{path: {type: RegularExpression, value: '/u/[0-9]+'}, headers: [{name: x, value: "1"}], method: GET}]
  filters:
  - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}], remove: [c]}}
  - {type: URLRewrite, urlRewrite: {hostname: h, path: {type: ReplaceFullPath, replaceFullPath: /x}}}
  - {type: RequestMirror, requestMirror: {backendRef: {name: reviews-v2, port: 9080}, percent: 5}}
  backendRefs: [{name: reviews-v1, port: 9080, weight: 3}, {name: reviews-v2, port: 9080}]
  timeouts: {request: 1s}
  retry: {attempts: 1, codes: [503], backoff: 50ms}
- filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
""")
    for attachment in attachments:
        assert round_trip(Attachment, attachment) == attachment


def test_virtualservice_attachments_round_trip() -> None:
    (attachment,) = virtual_service("""
hosts: [reviews]
http:
- match: [{uri: {prefix: /a}, withoutHeaders: {x: {}}, port: 9080}]
  route: [{destination: {host: reviews-v1, subset: v1}, weight: 1}, {destination: {host: reviews-v2}, weight: 2}]
  fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.5}}, delay: {fixedDelay: 0.5s, percentage: {value: 1}}}
- directResponse: {status: 200, body: {bytes: AAEC/w==}}
""")
    assert round_trip(Attachment, attachment) == attachment
    assert attachment.routes[1].direct_response == DirectResponse(200, b"\x00\x01\x02\xff")


def test_policies_round_trip() -> None:
    rule = destination_rule("""
host: reviews
trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1}, connectionPool: {tcp: {maxConnections: 1}}}
subsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}]
""")
    assert rule is not None and round_trip(HostPolicy, rule) == rule


def test_a_table_round_trips_and_encodes_the_same_bytes_twice() -> None:
    built = table.build(REVIEWS, 9080, http_route(PARENT + "rules: [{backendRefs: [{name: reviews-v1, port: 9080}]}]"))
    assert round_trip(table.RouteTable, built) == built
    assert json.dumps(to_json(built)) == json.dumps(to_json(round_trip(table.RouteTable, built)))


def test_floats_written_as_integers_read_back_as_floats() -> None:
    route = from_json(Route, {"origin": "r", "timeout": 2})
    assert route.timeout == 2.0 and isinstance(route.timeout, float)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"origin": 1}, "$.origin"),
        ({"origin": "r", "timeout": "2s"}, "$.timeout"),
        ({"origin": "r", "backends": {}}, "$.backends"),
        ({"origin": "r", "backends": [{"service": "s", "port": True}]}, "$.backends[0].port"),
        ({"origin": "r", "request_headers": {"set": [["a"]]}}, "$.request_headers.set[0]"),
        ({"origin": "r", "direct_response": {"status": 200, "body": "!"}}, "$.direct_response.body"),
        ({"origin": "r", "colour": "red"}, "colour"),
        ({}, "origin"),
    ],
)
def test_a_damaged_value_is_refused_with_its_path(data: dict[str, object], where: str) -> None:
    with pytest.raises(ValueError, match=re.escape(where)):
        from_json(Route, data)


def test_unsupported_types_are_refused() -> None:
    @dataclass(frozen=True)
    class Odd:
        value: int | str

    with pytest.raises(TypeError):
        from_json(Odd, {"value": 1})
    with pytest.raises(TypeError):
        to_json({1, 2})
