"""plan_members: pure planning of connect-members on small tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qbsync.config import MembersConfig
from qbsync.sources.records import Address, Member
from qbsync.state.customers import CachedCustomer
from qbsync.state.members import Link
from qbsync.sync.contacts import (
    contact_snapshot,
    display_name,
    name_variant,
    split_emails,
    usable_email,
)
from qbsync.sync.members_plan import EmptyCompanyError, MemberPlan, plan_members

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _c(cid: str, name: str, emails: str, active: bool = True) -> CachedCustomer:
    return CachedCustomer(cid, name, split_emails(emails), active, "0", "t")


def _m(mid: str, email: str, **kw: object) -> Member:
    return Member(mid, email, **kw)  # type: ignore[arg-type]


def _plan(
    members: list[Member],
    customers: list[CachedCustomer],
    links: dict[str, Link] | None = None,
    *,
    unlinked: set[str] | None = None,
    pushed: dict[str, dict[str, str]] | None = None,
    config: MembersConfig | None = None,
) -> MemberPlan:
    return plan_members(
        members,
        {c.id: c for c in customers},
        links or {},
        unlinked=unlinked or set(),
        pushed=pushed or {},
        config=config or MembersConfig(),
    )


def _status(plan: MemberPlan, member_id: str) -> str:
    for name, actions in (
        ("link", plan.links),
        ("create", plan.creates),
        ("reactivate", plan.reactivations),
        ("update", plan.updates),
    ):
        if any(a.member.id == member_id for a in actions):
            return name
    return next(v.status for v in plan.verdicts if v.member.id == member_id)


def test_case_variant_and_comma_list_emails_match() -> None:
    plan = _plan(
        [_m("m1", "  Ada@Example.COM "), _m("m2", "ops@acme.io")],
        [_c("1", "Ada", "ada@example.com"), _c("2", "Acme", "billing@acme.io, OPS@acme.io")],
    )
    assert [(a.member.id, a.customer_id) for a in plan.links] == [("m1", "1"), ("m2", "2")]


def test_several_active_customers_need_review_with_candidates() -> None:
    plan = _plan([_m("m1", "a@x.io")], [_c("7", "A", "a@x.io"), _c("3", "A2", "a@x.io")])
    (verdict,) = plan.of("needs_review")
    assert verdict.candidates == ("3", "7") and not plan.links and not plan.creates


def test_one_active_among_inactive_is_linked() -> None:
    plan = _plan(
        [_m("m1", "a@x.io")],
        [_c("3", "A (deleted)", "a@x.io", active=False), _c("4", "A", "a@x.io")],
    )
    assert [a.customer_id for a in plan.links] == ["4"]


def test_only_inactive_match_is_reactivated_with_its_name_restored_when_free() -> None:
    plan = _plan([_m("m1", "a@x.io")], [_c("3", "Ada L (deleted)", "a@x.io", active=False)])
    (action,) = plan.reactivations
    assert action.customer_id == "3" and action.restore_name == "Ada L"
    taken = _plan(
        [_m("m1", "a@x.io")],
        [_c("3", "Ada L (deleted)", "a@x.io", active=False), _c("9", "ada l", "other@x.io")],
    )
    assert taken.reactivations[0].restore_name is None
    off = _plan(
        [_m("m1", "a@x.io")],
        [_c("3", "Ada L (deleted)", "a@x.io", active=False)],
        config=MembersConfig(reactivate_inactive=False),
    )
    assert _status(off, "m1") == "unmatched"


def test_no_match_creates_from_the_members_details_or_lists_it() -> None:
    member = _m(
        "m1",
        "ada@x.io",
        first_name="Ada",
        last_name="Love:lace",
        company="Engines",
        phone="555",
        address=Address(line1="1 Main", city="London", postal_code="N1", country="UK"),
    )
    (create,) = _plan([member], [_c("1", "Other", "o@x.io")]).creates
    assert create.display_name == "Ada Love lace"
    assert create.body == {
        "DisplayName": "Ada Love lace",
        "GivenName": "Ada",
        "FamilyName": "Love lace",
        "CompanyName": "Engines",
        "PrimaryEmailAddr": {"Address": "ada@x.io"},
        "PrimaryPhone": {"FreeFormNumber": "555"},
        "BillAddr": {
            "Line1": "1 Main",
            "Line2": "",
            "City": "London",
            "CountrySubDivisionCode": "",
            "PostalCode": "N1",
            "Country": "UK",
        },
    }
    off = _plan([member], [], config=MembersConfig(create_missing=False))
    assert _status(off, "m1") == "unmatched"


def test_no_usable_email_inactive_unlinked_and_manual_are_left_alone() -> None:
    links = {"m4": Link("m4", "9", "manual", NOW)}
    plan = _plan(
        [
            _m("m1", ""),
            _m("m2", "not-an-email"),
            _m("m3", "c@x.io", status="cancelled"),
            _m("m4", "d@x.io"),
            _m("m5", "e@x.io"),
        ],
        [_c("9", "D", "zzz@x.io"), _c("5", "E", "e@x.io")],
        links,
        unlinked={"m5"},
        pushed={"m4": contact_snapshot(_m("m4", "d@x.io"))},
    )
    assert [_status(plan, m) for m in ("m1", "m2", "m3", "m4", "m5")] == [
        "no_email",
        "no_email",
        "inactive",
        "manual",
        "unlinked",
    ]
    assert not plan.links and not plan.creates


def test_empty_company_with_links_is_refused() -> None:
    with pytest.raises(EmptyCompanyError) as info:
        _plan([_m("m1", "a@x.io")], [], {"m1": Link("m1", "3", "auto", NOW)})
    assert "no customers at all" in info.value.message
    assert _plan([_m("m1", "a@x.io")], []).creates  # an empty company with no links is fine


def test_members_sharing_an_email_and_a_customer_linked_elsewhere_need_review() -> None:
    plan = _plan([_m("m1", "a@x.io"), _m("m2", "A@x.io")], [])
    assert [v.member.id for v in plan.of("needs_review")] == ["m1", "m2"]
    elsewhere = _plan(
        [_m("m1", "a@x.io"), _m("m2", "a@x.io", status="inactive"), _m("m3", "b@x.io")],
        [_c("3", "B", "b@x.io, a@x.io")],
        {"m9": Link("m9", "3", "auto", NOW)},
    )
    assert _status(elsewhere, "m1") == "needs_review"


def test_contact_change_at_the_source_is_pushed_and_only_then() -> None:
    before = _m("m1", "a@x.io", phone="111", first_name="Ada")
    after = _m("m1", "a@x.io", phone="222", first_name="Ada")
    links = {"m1": Link("m1", "3", "created", NOW)}
    customers = [_c("3", "Ada", "a@x.io")]
    same = _plan([before], customers, links, pushed={"m1": contact_snapshot(before)})
    assert not same.updates and _status(same, "m1") == "linked"
    changed = _plan([after], customers, links, pushed={"m1": contact_snapshot(before)})
    (update,) = changed.updates
    assert update.changed == ("phone",)
    assert update.fields == {"PrimaryPhone": {"FreeFormNumber": "222"}}
    baseline = _plan([after], customers, links)  # linked before contacts were tracked
    assert not baseline.updates and baseline.baselines["m1"]["phone"] == "222"


def test_email_change_keeps_the_customers_other_addresses() -> None:
    old = _m("m1", "a@x.io")
    new = _m("m1", "new@x.io")
    plan = _plan(
        [new],
        [_c("3", "A", "a@x.io, billing@x.io")],
        {"m1": Link("m1", "3", "auto", NOW)},
        pushed={"m1": contact_snapshot(old)},
    )
    assert plan.updates[0].fields == {"PrimaryEmailAddr": {"Address": "new@x.io, billing@x.io"}}


def test_display_name_update_only_when_configured() -> None:
    old = _m("m1", "a@x.io", first_name="Ada", last_name="Byron")
    new = _m("m1", "a@x.io", first_name="Ada", last_name="Lovelace")
    args = ([new], [_c("3", "Ada Byron", "a@x.io")], {"m1": Link("m1", "3", "auto", NOW)})
    pushed = {"m1": contact_snapshot(old)}
    assert "DisplayName" not in _plan(*args, pushed=pushed).updates[0].fields
    on = _plan(*args, pushed=pushed, config=MembersConfig(update_display_name=True))
    assert on.updates[0].fields["DisplayName"] == "Ada Lovelace"


def test_stale_auto_link_is_dropped_and_replanned_manual_one_is_reported() -> None:
    plan = _plan(
        [_m("m1", "a@x.io"), _m("m2", "b@x.io")],
        [_c("5", "A", "a@x.io"), _c("6", "B", "zz@x.io")],
        {"m1": Link("m1", "3", "auto", NOW), "m2": Link("m2", "4", "manual", NOW)},
    )
    assert plan.stale_links == ["m1"] and plan.links[0].customer_id == "5"
    assert _status(plan, "m2") == "failed"


def test_names_quotes_emoji_rtl_and_fallbacks() -> None:
    tricky = _m("m1", "o@x.io", first_name='Sinéad "O\'Brien"', last_name="🦄 שלום\\")
    assert display_name(tricky, "{first_name} {last_name}") == 'Sinéad "O\'Brien" 🦄 שלום\\'
    assert display_name(_m("m2", "c@x.io", company="Acme"), "{first_name} {last_name}") == "Acme"
    assert display_name(_m("m3", "c@x.io"), "{first_name}") == "c@x.io"
    assert name_variant("Ada Lovelace", _m("m1", "ada@x.io")) == "Ada Lovelace (ada@x.io)"
    assert name_variant("ada@x.io", _m("m1", "ada@x.io")) == "ada@x.io (member m1)"
    assert len(name_variant("x" * 600, _m("m1", "a@x.io"))) == 500
    assert usable_email(_m("m1", " A@B.co ")) == "a@b.co"
    assert usable_email(_m("m1", "a@b.co, c@d.co")) is None


def test_two_members_on_one_customer_in_one_run_both_need_review() -> None:
    # One customer whose email field lists both members' addresses (a household, a firm).
    members = [_m("m1", "a@x.io"), _m("m2", "b@x.io"), _m("m3", "c@x.io")]
    customers = [_c("3", "Household", "b@x.io, a@x.io"), _c("4", "C", "c@x.io")]
    for order in (members, members[::-1]):  # whoever comes first: never a guess
        plan = _plan(order, customers)
        assert [(a.member.id, a.customer_id) for a in plan.links] == [("m3", "4")]
        review = sorted(plan.of("needs_review"), key=lambda v: v.member.id)
        assert [(v.member.id, v.candidates) for v in review] == [("m1", ("3",)), ("m2", ("3",))]
        assert "m1, m2" in review[0].reason or "m2, m1" in review[0].reason
    # An inactive customer is not reactivated for two members either.
    inactive = _plan(members[:2], [_c("5", "H (deleted)", "a@x.io; b@x.io", active=False)])
    assert not inactive.reactivations and len(inactive.of("needs_review")) == 2
    # Across runs (one already linked) the newcomer needs review, the linked one stays.
    across = _plan(members[:2], customers, {"m1": Link("m1", "3", "auto", NOW)})
    assert _status(across, "m1") == "linked" and _status(across, "m2") == "needs_review"


def test_emails_match_after_nfc_normalization() -> None:
    composed, decomposed = "jos\u00e9@x.io", "jose\u0301@x.io"
    plan = _plan([_m("m1", composed)], [_c("3", "José", decomposed.upper())])
    assert [(a.member.id, a.customer_id) for a in plan.links] == [("m1", "3")]
    sharing = _plan([_m("m1", composed), _m("m2", decomposed)], [])
    assert len(sharing.of("needs_review")) == 2 and not sharing.creates
    assert usable_email(_m("m1", decomposed)) == composed


def test_an_email_over_100_characters_is_left_out_of_the_push_with_a_warning() -> None:
    long = "x" * 95 + "@example.com"  # 107 characters: cut, it would be another address
    old = _m("m1", "a@x.io", phone="111")
    links = {"m1": Link("m1", "3", "auto", NOW)}
    customers = [_c("3", "A", "a@x.io")]
    pushed = {"m1": contact_snapshot(old)}
    only_email = _plan([_m("m1", long, phone="111")], customers, links, pushed=pushed)
    assert not only_email.updates and _status(only_email, "m1") == "linked"
    ((member_id, warning),) = only_email.warnings
    assert member_id == "m1" and "m1" in warning and "100" in warning
    with_phone = _plan([_m("m1", long, phone="222")], customers, links, pushed=pushed)
    (update,) = with_phone.updates
    assert update.fields == {"PrimaryPhone": {"FreeFormNumber": "222"}}
    assert update.snapshot["email"] == "a@x.io"  # the email is still not pushed
    assert len(with_phone.warnings) == 1
    assert contact_snapshot(_m("m1", long))["email"] == long  # never cut
