"""An ExternalDNS container's arguments, read as v0.22.0 reads them."""

from __future__ import annotations

from dataplane.route53.settings import ALPHA_PREFIX, GA_PREFIX, Settings, parse_args


def _parse(*args: str) -> tuple[Settings, list[tuple[int | None, str]]]:
    problems: list[tuple[int | None, str]] = []
    settings = parse_args(args, lambda index, message: problems.append((index, message)))
    return settings, problems


def test_flags_in_both_forms_repeated_and_defaulted() -> None:
    settings, problems = _parse("--source=service", "--source", "ingress", "--domain-filter=example.com,example.org",
                                "--policy=upsert-only", "--txt-owner-id=c1", "--aws-prefer-cname", "--log-level=debug")
    assert problems == []
    assert settings.sources == ("service", "ingress")
    assert settings.domain_filters == ("example.com", "example.org")
    assert (settings.policy, settings.owner_id, settings.prefer_cname, settings.runs) == ("upsert-only", "c1", True, True)
    assert settings.annotation_prefix == GA_PREFIX and settings.interval == "1m"


def test_policy_is_required_and_a_missing_one_stops_external_dns() -> None:
    settings, problems = _parse("--source=ingress")
    assert not settings.runs
    assert [i for i, _ in problems] == [None] and "v0.22.0 requires it" in problems[0][1]


def test_bad_values_name_their_argument() -> None:
    settings, problems = _parse("--source=ingress", "--policy=always", "--interval=soon", "--frobnicate",
                                "--txt-prefix=x-", "--txt-suffix=-y", "--annotation-prefix=example.com")
    assert not settings.runs
    assert sorted(i for i, _ in problems if i is not None) == [1, 2, 3, 5, 6]


def test_the_alpha_annotation_prefix_can_be_chosen() -> None:
    settings, problems = _parse("--source=ingress", "--policy=sync", f"--annotation-prefix={ALPHA_PREFIX}")
    assert problems == [] and settings.annotation_prefix == ALPHA_PREFIX


def test_http_and_grpc_route_sources_are_read_and_the_l4_ones_warned() -> None:
    settings, problems = _parse("--source=gateway-httproute", "--source=gateway-tcproute", "--source=ingress",
                                "--source=gateway-grpcroute", "--policy=sync")
    assert settings.runs and settings.sources == ("gateway-httproute", "ingress", "gateway-grpcroute")
    assert [i for i, _ in problems] == [1]
