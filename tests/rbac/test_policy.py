"""The policy engine alone: permissions, field grants, content rules, and why each decision was made."""

import pytest

from portal.errors import InvalidDocument
from portal.rbac.policy import AccessPolicy, RoleGrant, permits
from portal.rbac.rules import parse_content_rules, parse_field_grants

LOOKUP = ["customer.lookup", "system.*.view"]


def role(name="r", permissions=LOOKUP, grants=None, rules=None) -> RoleGrant:
    return RoleGrant.from_data(name, permissions, grants or {"*": "show"}, rules or [])


@pytest.mark.parametrize(
    ("granted", "wanted", "allowed"),
    [
        (["system.*.view"], "system.boss.view", True),
        (["system.*.view"], "system.boss.open", False),
        (["system.b*.view"], "system.boss.view", True),
        (["system.b*.view"], "system.mail.view", False),
        (["*.lookup"], "customer.lookup", True),
        (["customer.lookup"], "customer.lookup.extra", False),
        ([], "customer.lookup", False),
    ],
)
def test_permission_wildcards_match_inside_one_segment(granted, wanted, allowed):
    assert permits(granted, wanted) is allowed


def test_field_grant_is_the_most_permissive_of_the_lookup_roles():
    agent = role("agent", grants={"pii": "mask", "*": "show"})
    strict = role("strict", grants={"*": "hide"})
    admin = RoleGrant.from_data("admin", ["users.manage"], {"*": "show"}, [])  # no lookup: ignored
    policy = AccessPolicy([strict, agent, admin])
    decision = policy.field("pii")
    assert (decision.action, decision.because) == ("mask", "role agent: pii = mask")
    assert policy.field("financial").action == "show"
    assert AccessPolicy([strict, admin]).field("financial").action == "hide"


def test_customer_patterns_limit_which_customers_a_role_sees():
    north = role("north", rules=[{"type": "customers", "patterns": ["1380000000?", "13900*"]}])
    policy = AccessPolicy([north])
    assert policy.customer("13800000005").allowed
    assert policy.customer("13900012345").allowed
    denied = policy.customer("13800000105")
    assert not denied.allowed and "only customers 1380000000?, 13900*" in denied.because
    assert AccessPolicy([north, role("all")]).customer("13800000105").allowed  # union of roles


def test_record_rules_deny_and_allow_rows_and_systems():
    agent = role("agent", rules=[
        {"type": "records", "system": "boss", "table": "bills", "field": "paid", "op": "eq", "value": "false",
         "effect": "deny"},
        {"type": "records", "system": "*", "field": "tier", "op": "eq", "value": "VIP", "effect": "deny"},
    ])
    vip_desk = role("vip", rules=[
        {"type": "records", "system": "loyalty", "field": "tier", "op": "in", "value": ["VIP", "Platinum"],
         "effect": "allow"},
    ])
    policy = AccessPolicy([agent])
    assert not policy.row("boss", "bills", {"paid": "false"}).allowed
    assert policy.row("boss", "bills", {"paid": "true"}).allowed
    assert policy.row("boss", "payments", {"paid": "false"}).allowed  # another table
    withheld = policy.system("loyalty", {"tier": "VIP"})
    assert not withheld.allowed and "deny * where tier eq 'VIP'" in withheld.because
    only_vip = AccessPolicy([vip_desk])
    assert only_vip.system("loyalty", {"tier": "Platinum"}).allowed
    assert not only_vip.system("loyalty", {"tier": "Silver"}).allowed
    assert only_vip.system("boss", {"tier": "Silver"}).allowed  # the rule names loyalty only


@pytest.mark.parametrize(
    ("rules", "key", "reason"),
    [
        ([{"type": "customers", "patterns": ["138.*"]}], "content_rules[0].patterns", "digits"),
        ([{"type": "records", "system": "boss", "field": "x", "op": "eval", "value": "1"}], "content_rules[0].op", ""),
        ([{"type": "records", "system": "boss", "field": "x", "op": "in", "value": "VIP"}], "content_rules[0]", "list"),
        ([{"type": "records", "system": "boss", "field": "x", "op": "eq", "value": "a", "colour": 1}],
         "content_rules[0].colour", "unknown key"),
        ([{"type": "magic"}], "content_rules[0]", ""),
    ],
)
def test_bad_rules_are_refused_at_save_with_key_and_reason(rules, key, reason):
    with pytest.raises(InvalidDocument) as caught:
        parse_content_rules(rules)
    assert caught.value.key.startswith(key) and reason in caught.value.reason


@pytest.mark.parametrize("grants", [{"pii": "blur"}, {"PII": "show"}, ["pii"]])
def test_bad_field_grants_are_refused(grants):
    with pytest.raises(InvalidDocument):
        parse_field_grants(grants)
