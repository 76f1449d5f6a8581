"""connect-members' plan and apply against the emulator: state rows and what QBO holds."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from qbsync.sources.records import Member
from qbsync.sync.connect import apply_connect, prepare_connect

from .conftest import Rig


def _run(rig: Rig, members: list[Member], *, full: bool = False):  # type: ignore[no-untyped-def]
    prepared = prepare_connect(
        members, [], client=rig.client, state=rig.state, config=rig.config, full=full
    )
    return apply_connect(
        prepared, client=rig.client, state=rig.state, config=rig.config, run_id=None
    )


def _by_email(rig: Rig, email: str) -> list[dict]:  # type: ignore[type-arg]
    return [
        c
        for c in rig.customers()
        if email in str((c.get("PrimaryEmailAddr") or {}).get("Address", "")).lower()
    ]


def test_first_run_links_creates_and_second_run_costs_two_requests(rig: Rig) -> None:
    members = [
        Member("m1", "EMILY.PLATT@example.com", first_name="Emily", last_name="Platt"),
        Member("m2", "new@example.com", first_name="Nia", last_name='O\'Neil: "Jr" 🦄'),
    ]
    result = _run(rig, members)
    summary = result.summary()
    assert summary["linked"] == 1 and summary["created"] == 1 and summary["failed"] == 0
    links = rig.state.members.links()
    assert links["m1"].how == "auto" and links["m2"].how == "created"
    (created,) = _by_email(rig, "new@example.com")
    assert created["Id"] == links["m2"].customer_id
    assert created["DisplayName"] == 'Nia O\'Neil "Jr" 🦄'
    before = rig.client.request_count
    again = _run(rig, members).summary()
    assert again["created"] == 0 and again["linked"] == 0 and again["unchanged"] == 2
    assert rig.client.request_count - before <= 2
    assert len(_by_email(rig, "new@example.com")) == 1


def test_a_lost_batch_response_creates_nothing_twice(rig: Rig) -> None:
    members = [Member(f"m{i}", f"lost{i}@example.com", first_name=f"Lost{i}") for i in range(5)]
    rig.emu.inject_fault("/batch", "lose_response", count=1)
    _run(rig, members)
    _run(rig, members)
    for i in range(5):
        found = _by_email(rig, f"lost{i}@example.com")
        assert len(found) == 1, found
        assert rig.state.members.links()[f"m{i}"].customer_id == found[0]["Id"]
    assert rig.state.members.pending() == []


def test_name_held_by_a_vendor_and_by_a_deleted_customer_get_the_variant(rig: Rig) -> None:
    members = [
        Member("v1", "someone@example.com", company="Harbor Courier Supplies"),
        Member("e1", "dana@example.com", first_name="Dana", last_name="Whitfield"),
    ]
    summary = _run(rig, members).summary()
    assert summary["created"] == 2, summary
    names = {c["DisplayName"] for c in rig.customers()}
    assert "Harbor Courier Supplies (someone@example.com)" in names
    assert "Dana Whitfield (dana@example.com)" in names


def test_contact_change_is_pushed_and_a_qbo_side_edit_is_left_alone(rig: Rig) -> None:
    member = Member("m1", "pat@example.com", first_name="Pat", phone="111")
    _run(rig, [member])
    customer_id = rig.state.members.links()["m1"].customer_id
    # The bookkeeper edits the company name in QBO; the platform changes the phone.
    current = rig.emu.company.read("Customer", customer_id)
    rig.emu.company.update(
        "Customer",
        {
            "Id": customer_id,
            "SyncToken": current["SyncToken"],
            "sparse": True,
            "CompanyName": "Edited",
        },
    )
    summary = _run(rig, [Member("m1", "pat@example.com", first_name="Pat", phone="222")]).summary()
    assert summary["updated"] == 1
    after = rig.emu.company.read("Customer", customer_id)
    assert after["PrimaryPhone"]["FreeFormNumber"] == "222"
    assert after["CompanyName"] == "Edited"


def test_a_create_left_pending_by_a_killed_run_is_found_by_email_not_sent_again(rig: Rig) -> None:
    from datetime import UTC, datetime

    from qbsync.state.members import PendingCreate

    # A run recorded the create, sent it and was killed before recording the answer.
    made = rig.emu.company.create(
        "Customer", {"DisplayName": "Kim Lee", "PrimaryEmailAddr": {"Address": "kim@example.com"}}
    )
    rig.state.members.add_pending(
        [PendingCreate("k1", "kim@example.com", "cus-x", "b1", datetime.now(UTC))]
    )
    summary = _run(
        rig, [Member("k1", "kim@example.com", first_name="Kim", last_name="Lee")]
    ).summary()
    assert summary["created"] == 0 and summary["failed"] == 0
    assert rig.state.members.links()["k1"].customer_id == made["Id"]
    assert rig.state.members.links()["k1"].how == "created"
    assert len(_by_email(rig, "kim@example.com")) == 1 and rig.state.members.pending() == []


def test_inactive_match_is_reactivated_and_ambiguous_email_left_for_review(rig: Rig) -> None:
    gary = next(c for c in rig.customers() if c["DisplayName"] == "Gary Holt (deleted)")
    email = gary["PrimaryEmailAddr"]["Address"]
    for name in ("Twin A", "Twin B"):
        rig.emu.company.create(
            "Customer", {"DisplayName": name, "PrimaryEmailAddr": {"Address": "twins@example.com"}}
        )
    summary = _run(rig, [Member("g1", email.upper()), Member("t1", "twins@example.com")]).summary()
    assert summary["reactivated"] == 1 and summary["needs_review"] == 1
    after = rig.emu.company.read("Customer", gary["Id"])
    assert after["Active"] is True and after["DisplayName"] == "Gary Holt"
    assert "t1" not in rig.state.members.links()
    row = rig.state.members.roster()["t1"]
    assert row.status == "needs_review" and len(row.candidates) == 2


def test_an_empty_company_with_links_is_refused_and_nothing_changes(rig: Rig) -> None:
    import pytest

    from qbsync.sync.members_plan import EmptyCompanyError

    _run(rig, [Member("m1", "emily.platt@example.com")])

    class EmptyCompany:  # QBO answering no customers at all (wrong company, lost access)
        def query_pages(self, sql: str, *, page_size: int = 1000):  # type: ignore[no-untyped-def]
            return iter([[]])

        def query(self, sql: str, *, page_size: int = 1000) -> list:  # type: ignore[type-arg]
            return []

    with pytest.raises(EmptyCompanyError):
        prepare_connect(
            [Member("m1", "emily.platt@example.com"), Member("m2", "x@example.com")],
            [],
            client=EmptyCompany(),  # type: ignore[arg-type]
            state=rig.state,
            config=rig.config,
            full=True,
        )
    assert "m1" in rig.state.members.links()
    assert rig.state.customers.count() > 0  # the cache was not emptied either


def test_the_day_after_a_big_run_its_own_writes_are_not_read_back(rig: Rig) -> None:
    members = [Member(f"n{i}", f"new{i}@example.com", first_name=f"N{i}") for i in range(45)]
    rig.emu.clock.advance(5)  # the company's own records are not from the read's second
    _run(rig, members)
    read_after = rig.state.customers.read_after  # proved: only our own writes changed
    assert read_after is not None
    newest = max(datetime.fromisoformat(c["MetaData"]["LastUpdatedTime"]) for c in rig.customers())
    assert read_after == newest  # counted a second later: nothing else changed up to then
    rig.emu.clock.advance(60)  # later, nothing changed (a day would also expire the token)
    before = rig.client.request_count
    prepared = prepare_connect(
        members, [], client=rig.client, state=rig.state, config=rig.config, full=False
    )
    assert rig.client.request_count - before == 2  # one query, one CDC
    assert prepared.refresh.read == 0  # none of its own writes is read back
    assert prepared.plan.changes == 0


def test_someone_elses_change_during_a_run_is_not_skipped(rig: Rig) -> None:
    from qbsync.sync.customers import confirm_own_writes

    _run(rig, [Member("a1", "a1@example.com", first_name="A")])
    rig.emu.clock.advance(60)
    _run(rig, [Member("a1", "a1@example.com", first_name="A")])  # a read: clears read_after
    rig.emu.clock.advance(60)
    # A bookkeeper adds a customer between the read and the run's own writes' check.
    made = rig.emu.company.create(
        "Customer",
        {"DisplayName": "Walk In", "PrimaryEmailAddr": {"Address": "walkin@example.com"}},
    )
    ours = rig.emu.company.create("Customer", {"DisplayName": "Ours"})
    assert not confirm_own_writes(
        rig.client, rig.state, {ours["Id"]: ours["MetaData"]["LastUpdatedTime"]}
    )
    assert rig.state.customers.read_after is None
    rig.emu.clock.advance(60)
    _run(rig, [Member("w1", "walkin@example.com")])
    assert rig.state.members.links()["w1"].customer_id == made["Id"]  # seen, linked, not duplicated


def test_exports_connect_attempt_still_sees_members_sharing_an_email(rig: Rig) -> None:
    both = [Member("mA", "shared@example.com"), Member("mB", "SHARED@example.com")]
    rig.emu.company.create(
        "Customer", {"DisplayName": "Shared", "PrimaryEmailAddr": {"Address": "shared@example.com"}}
    )
    _run(rig, both)
    assert rig.state.members.links() == {}
    # export gives mA (it has an invoice) one connect attempt: planned among every member.
    prepared = prepare_connect(
        both, [], client=rig.client, state=rig.state, config=rig.config, full=False, only=["mA"]
    )
    assert not prepared.plan.links and [v.status for v in prepared.plan.verdicts] == [
        "needs_review"
    ]


def test_an_inactive_customer_linked_to_another_member_is_not_reactivated_for_a_second(
    rig: Rig,
) -> None:
    _run(rig, [Member("mA", "one@example.com", first_name="One")])
    customer_id = rig.state.members.links()["mA"].customer_id
    current = rig.emu.company.read("Customer", customer_id)
    rig.emu.company.update(
        "Customer",
        {"Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True, "Active": False},
    )
    rig.emu.clock.advance(5)
    _run(rig, [Member("mA", "one@example.com", first_name="One"), Member("mB", "one@example.com")])
    assert "mB" not in rig.state.members.links()
    assert rig.state.members.roster()["mB"].status == "needs_review"
    assert rig.emu.company.read("Customer", customer_id)["Active"] is False


def test_a_manual_link_or_unlink_is_not_undone_by_an_earlier_unclear_create(rig: Rig) -> None:
    from datetime import UTC, datetime

    from qbsync.state.members import PendingCreate

    for member_id, email in (("k1", "kim@example.com"), ("k2", "lee@example.com")):
        rig.emu.company.create(
            "Customer", {"DisplayName": member_id, "PrimaryEmailAddr": {"Address": email}}
        )
        rig.state.members.add_pending(
            [PendingCreate(member_id, email, "cus-x", "b1", datetime.now(UTC))]
        )
    other = rig.emu.company.create("Customer", {"DisplayName": "Chosen by hand"})
    rig.state.members.link("k1", other["Id"], "manual")
    rig.state.members.unlink("k2")
    _run(rig, [Member("k1", "kim@example.com"), Member("k2", "lee@example.com")])
    links = rig.state.members.links()
    assert links["k1"].customer_id == other["Id"] and links["k1"].how == "manual"
    assert "k2" not in links and rig.state.members.unlinked() == {"k2"}


def test_unlink_names_a_real_member_or_refuses(rig: Rig) -> None:
    import pytest

    from qbsync.errors import UsageError
    from qbsync.sync.manual import resolve_member_id

    rig.state.members.link("m1", "1", "manual")  # linked by hand before any connect-members
    assert resolve_member_id(rig.config, rig.state, "m1") == "m1"
    (rig.config.source.members).write_text("id,email\nm2,kim@example.com\n")  # type: ignore[union-attr]
    assert resolve_member_id(rig.config, rig.state, "KIM@example.com ") == "m2"
    with pytest.raises(UsageError) as info:
        resolve_member_id(rig.config, rig.state, "nobody@example.com")
    assert "nobody@example.com" in info.value.message


def test_a_capped_cdc_answer_falls_back_to_a_full_read(rig: Rig) -> None:
    from qbsync.sync.customers import CDC_MAX, refresh_customers

    _run(rig, [Member("m1", "emily.platt@example.com")])
    real = rig.client.cdc

    def capped(entities, changed_since):  # type: ignore[no-untyped-def]
        answer = real(entities, changed_since)
        answer["Customer"] = [{"Id": str(i), "status": "Updated"} for i in range(CDC_MAX)]
        return answer

    rig.client.cdc = capped  # type: ignore[method-assign]
    result = refresh_customers(rig.client, rig.state, full=False)
    assert result.mode == "full" and result.read == len(rig.customers())


def test_a_customer_listing_two_members_emails_is_linked_to_neither(rig: Rig) -> None:
    household = rig.emu.company.create(
        "Customer",
        {"DisplayName": "Household", "PrimaryEmailAddr": {"Address": "h1@ex.com, h2@ex.com"}},
    )
    before = len(rig.customers())
    members = [Member("h1", "h1@ex.com"), Member("h2", "H2@ex.com")]
    summary = _run(rig, members).summary()
    assert summary["linked"] == 0 and summary["needs_review"] == 2, summary
    assert rig.state.members.links() == {} and len(rig.customers()) == before
    roster = rig.state.members.roster()
    for member_id in ("h1", "h2"):
        assert roster[member_id].status == "needs_review"
        assert roster[member_id].candidates == (household["Id"],)
    # export's connect attempt for one of them is planned among everyone: still neither.
    prepared = prepare_connect(
        members, [], client=rig.client, state=rig.state, config=rig.config, full=False, only=["h2"]
    )
    assert not prepared.plan.links and prepared.plan.of("needs_review")[0].member.id == "h2"


def test_a_decomposed_accent_in_qbo_matches_the_members_composed_one(rig: Rig) -> None:
    made = rig.emu.company.create(
        "Customer", {"DisplayName": "José", "PrimaryEmailAddr": {"Address": "jose\u0301@ex.com"}}
    )
    before = len(rig.customers())
    summary = _run(rig, [Member("j1", "jos\u00e9@ex.com", first_name="José")]).summary()
    assert summary["linked"] == 1 and summary["created"] == 0, summary
    assert rig.state.members.links()["j1"].customer_id == made["Id"]
    assert len(rig.customers()) == before


def test_an_email_over_100_characters_is_not_pushed_cut(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _run(rig, [Member("m1", "pat@example.com", first_name="Pat", phone="111")])
    customer_id = rig.state.members.links()["m1"].customer_id
    long = "p" * 95 + "@example.com"  # 107 characters
    with caplog.at_level(logging.WARNING, logger="qbsync"):
        summary = _run(rig, [Member("m1", long, first_name="Pat", phone="222")]).summary()
    assert summary["updated"] == 1 and summary["failed"] == 0, summary
    after = rig.emu.company.read("Customer", customer_id)
    assert after["PrimaryEmailAddr"]["Address"] == "pat@example.com"  # kept, never cut
    assert after["PrimaryPhone"]["FreeFormNumber"] == "222"
    assert rig.state.members.pushed()["m1"]["email"] == "pat@example.com"
    assert any("member m1" in r.getMessage() and "100" in r.getMessage() for r in caplog.records)
