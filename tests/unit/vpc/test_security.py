"""Security groups and network ACLs, pure: reading and checking the Topology, evaluating a packet
(which rule decides), and the nftables they become."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.cli import vpc_records
from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.vpc.evaluate import VpcVerdicts
from dataplane.vpc.render import render_node, render_router
from dataplane.vpc.security import read

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = (ROOT / "tests/integration/topologies/vpc-security.yaml").read_text().replace("NAME", "v").replace("CNI", "vpc")


def _plan(text: str = TOPOLOGY) -> Plan:
    return plan_from_text(text, "vpc-security.yaml")


def _ip(plan: Plan, pod: str) -> str:
    return plan.pod("default", pod).ip


def test_verdicts_follow_the_groups_and_the_stateless_acl() -> None:
    plan = _plan()
    v = VpcVerdicts(plan)
    assert v.refusal(_ip(plan, "c1"), _ip(plan, "w2"), "tcp", 8080) is None  # T4: inbound allowed
    assert v.refusal(_ip(plan, "w2"), _ip(plan, "c1"), "tcp", 8080) == (
        "security groups other of node n2: no outbound rule allows it")
    trap = v.refusal(_ip(plan, "c1"), _ip(plan, "w3"), "tcp", 8080)
    assert trap is not None and "reply to the client's ephemeral port is dropped" in trap  # T1
    assert v.refusal(_ip(plan, "c1"), _ip(plan, "w3"), "tcp", 9090) == "network ACL srv (subnet srv) ingress rule * (deny)"


def test_the_ephemeral_range_opened_lets_the_reply_back_and_groups_still_decide() -> None:
    fixed = TOPOLOGY.replace(
        "          - {ruleNumber: 100, egress: true,",
        "          - {ruleNumber: 110, egress: true, protocol: tcp, portRange: {from: 1024, to: 65535}, "
        "cidrBlock: 0.0.0.0/0, ruleAction: allow}\n          - {ruleNumber: 100, egress: true,")
    plan = _plan(fixed)
    v = VpcVerdicts(plan)
    assert v.refusal(_ip(plan, "c1"), _ip(plan, "w3"), "tcp", 8080) is None
    assert v.refusal(_ip(plan, "c4"), _ip(plan, "w3"), "tcp", 8080) == (
        "security groups db of node n3: no inbound rule allows it")  # not a member of "app"


def test_t2_the_lowest_rule_number_wins() -> None:
    deny_first = TOPOLOGY.replace(
        "          - {ruleNumber: 100, egress: false,",
        "          - {ruleNumber: 90, egress: false, protocol: tcp, portRange: {from: 8080, to: 8080}, "
        "cidrBlock: 10.30.1.0/24, ruleAction: deny}\n          - {ruleNumber: 100, egress: false,")
    plan = _plan(deny_first)
    assert VpcVerdicts(plan).refusal(_ip(plan, "c1"), _ip(plan, "w3"), "tcp", 8080) == (
        "network ACL srv (subnet srv) ingress rule 90 (deny)")
    renumbered = deny_first.replace("ruleNumber: 90, egress: false", "ruleNumber: 300, egress: false")
    plan = _plan(renumbered)
    trap = VpcVerdicts(plan).refusal(_ip(plan, "c1"), _ip(plan, "w3"), "tcp", 8080)
    assert trap is not None and "ingress rule" not in trap  # the allow at 100 now decides; the reply trap remains


def test_same_node_and_same_subnet_traffic_is_not_judged_by_acls() -> None:
    closed = TOPOLOGY.replace("      - {name: cli, cidr: 10.30.1.0/24, zone: a}",
                              "      - {name: cli, cidr: 10.30.1.0/24, zone: a, networkAcl: closed}")
    plan = _plan(closed)
    v = VpcVerdicts(plan)
    assert v.refusal(_ip(plan, "c1"), _ip(plan, "w2"), "tcp", 8080) is None  # T3: within subnet cli
    assert v.refusal(_ip(plan, "c4"), _ip(plan, "w3"), "tcp", 8080) == "network ACL closed (subnet cli) egress rule * (deny)"


def test_rendered_tables() -> None:
    plan = _plan()
    security = read(plan.vpc_security)
    node = plan.node("n3")
    text = render_node(plan, node, security)
    members = sorted([plan.node("n1").ip, _ip(plan, "c1")])
    assert "type filter hook prerouting priority -190" in text and "ct state established,related accept" in text
    assert all(m in text for m in members) and 'meta l4proto tcp th dport 8080 accept comment "sg db ingress[0]"' in text
    router = render_router(plan, security)
    assert 'iifname "br-srv" oifname != "br-srv" jump out-srv' in router or "jump out-srv" in router
    assert 'counter drop comment "network ACL srv (subnet srv) egress rule * (deny)"' in router


def test_no_groups_no_enforcement() -> None:
    plain = (ROOT / "tests/integration/topologies/services.yaml").read_text().replace("NAME", "p").replace("CNI", "vpc")
    plan = _plan(plain)
    assert not VpcVerdicts(plan).active
    text = render_node(plan, plan.nodes[0], read(plan.vpc_security))
    assert "drop" not in text and "ct state" not in text  # empty base chains: nothing judged


@pytest.mark.parametrize(("change", "field", "message"), [
    (("fromPort: 8080, toPort: 8080, cidr: 10.30.0.0/16", "fromPort: 8090, toPort: 8080, cidr: 10.30.0.0/16"),
     "spec.vpc.securityGroups[1].ingress[0].toPort", "below fromPort"),
    (("sourceGroup: app}", "sourceGroup: nope}"), "spec.vpc.securityGroups[0].ingress[0].sourceGroup", "no security group"),
    (("securityGroups: [open]", "securityGroups: [gone]"), "spec.nodes[2].securityGroups[0]", "no security group 'gone'"),
    (("networkAcl: srv}", "networkAcl: srx}"), "spec.vpc.subnets[1].networkAcl", "no network ACL 'srx'"),
    (("ruleNumber: 100, egress: true", "ruleNumber: 100, egress: false"), "spec.vpc.networkAcls[0].entries[1].ruleNumber",
     "already an ingress entry"),
    (("protocol: \"-1\", cidr: 0.0.0.0/0", "protocol: \"-1\", cidr: 0.0.0.0/0, sourceGroup: app"),
     "spec.vpc.securityGroups[2].ingress[0]", "exactly one of cidr or sourceGroup"),
])
def test_what_ec2_refuses_is_an_error_at_its_field(change: tuple[str, str], field: str, message: str) -> None:
    assert change[0] in TOPOLOGY
    with pytest.raises(TopologyError) as raised:
        _plan(TOPOLOGY.replace(change[0], change[1], 1))
    assert field in str(raised.value) and message in str(raised.value)


def test_get_lists_groups_with_their_nodes_and_acls_with_the_final_deny() -> None:
    plan = _plan()
    by_name = {g["name"]: g for g in vpc_records.groups(plan)}
    assert by_name["db"]["nodes"] == ["n3"] and by_name["db"]["ingress"] == ["tcp/8080 sg:app"]
    assert by_name["other"]["egress"] == [] and by_name["app"]["egress"] == ["all 0.0.0.0/0"]
    assert by_name["default"]["nodes"] == []  # every node names its groups
    [srv] = [a for a in vpc_records.acls(plan) if a["name"] == "srv"]
    assert srv["subnets"] == ["srv"] and srv["egress"] == ["100 tcp/8080 0.0.0.0/0 allow", "* all 0.0.0.0/0 deny"]


def test_a_branch_eni_has_its_pods_own_groups() -> None:
    plan = _plan()
    v = VpcVerdicts(plan)
    assert v.refusal(_ip(plan, "c4"), _ip(plan, "c5"), "tcp", 8080) == (
        "security groups app of the branch ENI of pod default/c5: no inbound rule allows it")  # same node, strict
    assert v.refusal(_ip(plan, "c1"), _ip(plan, "c5"), "tcp", 8080) is None
    assert _ip(plan, "c5") in v.members["app"] and _ip(plan, "c5") not in v.members["open"]
    text = render_node(plan, plan.node("n4"), read(plan.vpc_security))
    assert f'ip daddr {{ {_ip(plan, "c5")} }} accept' in text and "type filter hook forward priority 0" in text


def test_a_policy_naming_an_unknown_group_is_an_error() -> None:
    with pytest.raises(TopologyError, match=r"spec.securityGroups.groupIds\[0\].*no security group 'nope'"):
        _plan(TOPOLOGY.replace("groupIds: [app]", "groupIds: [nope]"))
