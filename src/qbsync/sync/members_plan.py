"""connect-members, planned: members + cached QBO customers + links -> what to do, with reasons.

Pure: no QBO, no SQLite. ``apply_members`` (members_apply.py) carries the plan out.
A wrong link puts invoices on the wrong customer's account, so every ambiguity becomes a
"needs review" verdict for the operator, never a guess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qbsync.config import MembersConfig
from qbsync.errors import QbsyncError
from qbsync.sources.records import Member
from qbsync.state.customers import CachedCustomer
from qbsync.state.members import Link, MemberRow
from qbsync.sync.contacts import (
    EMAIL_MAX,
    changed_keys,
    contact_snapshot,
    customer_fields,
    display_name,
    new_customer_body,
    normalize_email,
    restored_name,
    usable_email,
)


class EmptyCompanyError(QbsyncError):
    """QBO answered no customers at all while the state holds links."""


@dataclass(frozen=True)
class LinkAction:
    member: Member
    customer_id: str
    reason: str


@dataclass(frozen=True)
class CreateAction:
    member: Member
    display_name: str
    body: dict[str, Any]
    reason: str
    snapshot: dict[str, str] | None = None  # the contact fields the body was made from


@dataclass(frozen=True)
class ReactivateAction:
    member: Member
    customer_id: str
    restore_name: str | None  # the name before QBO appended " (deleted)", when it is free
    reason: str


@dataclass(frozen=True)
class UpdateAction:
    member: Member
    customer_id: str
    fields: dict[str, Any]  # the QBO fields that changed at the source
    changed: tuple[str, ...]  # their snapshot keys
    snapshot: dict[str, str]  # what is pushed once the update lands


@dataclass(frozen=True)
class Verdict:
    """A member left as it is, with the reason (needs review, unmatched, no email, ...)."""

    member: Member
    status: str  # needs_review | unmatched | no_email | inactive | unlinked | manual | linked
    reason: str
    candidates: tuple[str, ...] = ()


@dataclass
class MemberPlan:
    links: list[LinkAction] = field(default_factory=list)
    creates: list[CreateAction] = field(default_factory=list)
    reactivations: list[ReactivateAction] = field(default_factory=list)
    updates: list[UpdateAction] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    # Links whose customer QBO no longer has (deleted or merged away): dropped before planning.
    stale_links: list[str] = field(default_factory=list)
    # Linked members whose contact fields were never recorded: today's values become the baseline.
    baselines: dict[str, dict[str, str]] = field(default_factory=dict)
    # (member id, what was left out of a push and why): said on the terminal and in the log.
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def of(self, status: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == status]

    @property
    def changes(self) -> int:
        return len(self.links) + len(self.creates) + len(self.reactivations) + len(self.updates)

    def counts(self) -> dict[str, int]:
        counts = {
            "link": len(self.links),
            "create": len(self.creates),
            "reactivate": len(self.reactivations),
            "update": len(self.updates),
        }
        for verdict in self.verdicts:
            counts[verdict.status] = counts.get(verdict.status, 0) + 1
        return counts

    def roster(self) -> list[MemberRow]:
        """Each member's verdict as `qbsync links` shows it (actions count as linked)."""
        rows: list[MemberRow] = []
        linked = [a.member for a in self.links]
        linked += [a.member for a in self.reactivations] + [a.member for a in self.updates]
        rows.extend(_row(m, "linked") for m in linked)
        rows.extend(_row(a.member, "pending_create", a.reason) for a in self.creates)
        for v in self.verdicts:
            status = "linked" if v.status in ("manual", "linked") else v.status
            rows.append(_row(v.member, status, v.reason, v.candidates))
        return rows


def _row(
    member: Member, status: str, detail: str | None = None, candidates: tuple[str, ...] = ()
) -> MemberRow:
    name = " ".join(p for p in (member.first_name, member.last_name) if p) or member.company
    return MemberRow(
        member.id, member.email.strip(), name, member.active, status, detail, candidates
    )


def email_index(customers: Iterable[CachedCustomer]) -> dict[str, list[CachedCustomer]]:
    index: dict[str, list[CachedCustomer]] = defaultdict(list)
    for customer in customers:
        # normalized again: a cache written before NFC normalization still matches
        for email in dict.fromkeys(normalize_email(e) for e in customer.emails):
            index[email].append(customer)
    return index


def check_not_empty(customers: Mapping[str, CachedCustomer], links: Mapping[str, Link]) -> None:
    """The guard: QBO answering no customers at all while members are linked."""
    if not customers and links:
        raise EmptyCompanyError(
            f"QBO answered no customers at all, but {len(links)} member(s) are linked to "
            "customers of this company: this looks like the wrong company or lost access, "
            "so nothing was planned or changed",
            hint="check `qbsync status` (company and realm); if the company really is empty, "
            "run `qbsync auth --fresh-state`",
        )


def plan_members(
    members: Sequence[Member],
    customers: Mapping[str, CachedCustomer],
    links: Mapping[str, Link],
    *,
    unlinked: Collection[str],
    pushed: Mapping[str, Mapping[str, str]],
    config: MembersConfig,
) -> MemberPlan:
    """What connect-members does for each member, and why."""
    check_not_empty(customers, links)
    plan = MemberPlan()
    by_email = email_index(customers.values())
    taken = {c.display_name.lower() for c in customers.values()}
    linked_customers: dict[str, list[str]] = defaultdict(list)
    for member_id, existing in links.items():
        linked_customers[existing.customer_id].append(member_id)

    to_match: list[tuple[Member, str]] = []
    for member in members:
        link = links.get(member.id)
        if link is not None and link.customer_id not in customers:
            if link.how == "manual":
                plan.verdicts.append(
                    Verdict(
                        member,
                        "failed",
                        f"manually linked to customer {link.customer_id}, which QBO no "
                        f"longer has; run `qbsync link {member.id}` to choose another",
                    )
                )
                continue
            plan.stale_links.append(member.id)
            link = None
        if link is not None:
            _plan_linked(plan, member, link, customers[link.customer_id], pushed, config)
            continue
        if member.id in unlinked:
            plan.verdicts.append(
                Verdict(member, "unlinked", "unlinked by the operator (`qbsync link` to connect)")
            )
            continue
        if not member.active:
            plan.verdicts.append(Verdict(member, "inactive", f"status {member.status!r}"))
            continue
        email = usable_email(member)
        if email is None:
            reason = "no email" if not member.email.strip() else f"unusable email {member.email!r}"
            plan.verdicts.append(Verdict(member, "no_email", reason))
            continue
        to_match.append((member, email))

    sharing: dict[str, list[str]] = defaultdict(list)
    for member, email in to_match:
        sharing[email].append(member.id)
    for member, email in to_match:
        others = [m for m in sharing[email] if m != member.id]
        if others:
            plan.verdicts.append(
                Verdict(member, "needs_review", shared_email_reason(sharing[email], email))
            )
            continue
        _plan_match(plan, member, email, by_email.get(email, []), linked_customers, taken, config)
    _one_claimant_per_customer(plan)
    return plan


SHARE_WORD = " share "


def shared_email_reason(member_ids: Sequence[str], email: str) -> str:
    """The one wording of members sharing an email, wherever it shows (connect-members, links,
    export, status): ``members M-1100, M-1101 share twins@example.com``."""
    return f"members {', '.join(member_ids)}{SHARE_WORD}{email}"


def is_shared_email(reason: str | None) -> bool:
    """Whether a verdict's reason is ``shared_email_reason``'s (its fix: `link --create`)."""
    return reason is not None and reason.startswith("members ") and SHARE_WORD in reason


def _one_claimant_per_customer(plan: MemberPlan) -> None:
    """Links are planned as they are decided: a customer matched by two members of this run (its
    email field lists both addresses) goes to neither. Across runs the second claimant needs
    review (`_linked_elsewhere`); within a run no claimant is first, and the order of the
    addresses in QBO's email field is no evidence of whose customer it is, so both need review:
    picking one would be a guess."""
    claims: dict[str, list[Member]] = defaultdict(list)
    for action in plan.links:
        claims[action.customer_id].append(action.member)
    for again in plan.reactivations:
        claims[again.customer_id].append(again.member)
    shared = {cid: members for cid, members in claims.items() if len(members) > 1}
    if not shared:
        return
    plan.links = [a for a in plan.links if a.customer_id not in shared]
    plan.reactivations = [a for a in plan.reactivations if a.customer_id not in shared]
    for customer_id, members in sorted(shared.items(), key=lambda kv: _id_order(kv[0])):
        ids = ", ".join(m.id for m in members)
        for member in members:
            plan.verdicts.append(
                Verdict(
                    member,
                    "needs_review",
                    f"customer {customer_id} has the emails of members {ids}: one customer for "
                    "several members is for you to decide (`qbsync link`)",
                    (customer_id,),
                )
            )


def only_for(plan: MemberPlan, member_ids: Collection[str]) -> MemberPlan:
    """The part of ``plan`` about ``member_ids`` (planned over every member, so that a rule
    between members, such as a shared email, still holds)."""
    keep = set(member_ids)
    return MemberPlan(
        links=[a for a in plan.links if a.member.id in keep],
        creates=[a for a in plan.creates if a.member.id in keep],
        reactivations=[a for a in plan.reactivations if a.member.id in keep],
        updates=[a for a in plan.updates if a.member.id in keep],
        verdicts=[v for v in plan.verdicts if v.member.id in keep],
        stale_links=[m for m in plan.stale_links if m in keep],
        baselines={m: s for m, s in plan.baselines.items() if m in keep},
        warnings=[w for w in plan.warnings if w[0] in keep],
    )


def _plan_linked(
    plan: MemberPlan,
    member: Member,
    link: Link,
    customer: CachedCustomer,
    pushed: Mapping[str, Mapping[str, str]],
    config: MembersConfig,
) -> None:
    """A linked member: push the contact fields that changed at the source since last pushed."""
    snapshot = contact_snapshot(member)
    before = pushed.get(member.id)
    status = "manual" if link.how == "manual" else "linked"
    if before is None:  # linked before contacts were tracked: today's values are the baseline
        plan.baselines[member.id] = snapshot
        plan.verdicts.append(Verdict(member, status, f"linked to customer {customer.id}"))
        return
    if len(snapshot["email"]) > EMAIL_MAX and snapshot["email"] != before.get("email", ""):
        # Cut, it would be an invalid address (qbo-facts.md "Entities": PrimaryEmailAddr 100):
        # the customer keeps the email it has, and the push records the old one as still
        # current, so the warning comes back every run until the platform's email is fixed.
        plan.warnings.append(
            (
                member.id,
                f"member {member.id}: its email is {len(snapshot['email'])} characters, over "
                f"QBO's {EMAIL_MAX}; left out of the update of customer {customer.id}, which "
                "keeps its email (fix the email at the platform)",
            )
        )
        snapshot["email"] = before.get("email", "")
    keys = changed_keys(snapshot, before)
    if not member.active or not keys:
        plan.verdicts.append(Verdict(member, status, f"linked to customer {customer.id}"))
        return
    fields = customer_fields(snapshot, keys)
    if "email" in keys and len(customer.emails) > 1 and "PrimaryEmailAddr" in fields:
        old = normalize_email(before.get("email", ""))
        kept = [e for e in customer.emails if normalize_email(e) != old]
        addresses = [snapshot["email"]]
        for other in kept:  # whole addresses only, within QBO's 100 characters
            if len(", ".join([*addresses, other])) <= EMAIL_MAX:
                addresses.append(other)
        fields["PrimaryEmailAddr"] = {"Address": ", ".join(addresses)}
    if config.update_display_name and {"first_name", "last_name", "company"} & set(keys):
        fields["DisplayName"] = display_name(member, config.display_name)
    plan.updates.append(UpdateAction(member, customer.id, fields, tuple(keys), snapshot))


def _plan_match(
    plan: MemberPlan,
    member: Member,
    email: str,
    matches: list[CachedCustomer],
    linked_customers: Mapping[str, list[str]],
    taken: set[str],
    config: MembersConfig,
) -> None:
    active = [c for c in matches if c.active]
    if len(active) > 1:
        ids = tuple(sorted((c.id for c in active), key=_id_order))
        plan.verdicts.append(
            Verdict(member, "needs_review", f"{len(active)} active QBO customers have {email}", ids)
        )
        return
    if len(active) == 1:
        customer = active[0]
        if _linked_elsewhere(plan, member, customer, email, linked_customers):
            return
        why = "email matches" if len(matches) == 1 else "email matches the only active one"
        plan.links.append(LinkAction(member, customer.id, f"{why} ({customer.display_name})"))
        return
    if len(matches) > 1:  # several customers, all inactive
        ids = tuple(sorted((c.id for c in matches), key=_id_order))
        plan.verdicts.append(
            Verdict(
                member, "needs_review", f"{len(matches)} inactive QBO customers have {email}", ids
            )
        )
        return
    if len(matches) == 1:
        customer = matches[0]
        if _linked_elsewhere(plan, member, customer, email, linked_customers):
            return
        if not config.reactivate_inactive:
            plan.verdicts.append(
                Verdict(
                    member,
                    "unmatched",
                    f"the only customer with {email} ({customer.id}) is inactive and "
                    "[members] reactivate_inactive is off",
                    (customer.id,),
                )
            )
            return
        restore = restored_name(customer.display_name)
        if restore is not None and restore.lower() in taken:
            restore = None
        plan.reactivations.append(
            ReactivateAction(
                member, customer.id, restore, f"the only customer with {email} is inactive"
            )
        )
        return
    if not config.create_missing:
        plan.verdicts.append(
            Verdict(
                member,
                "unmatched",
                f"no QBO customer has {email} ([members] create_missing is off)",
            )
        )
        return
    name = display_name(member, config.display_name)
    taken.add(name.lower())
    snapshot = contact_snapshot(member)
    plan.creates.append(
        CreateAction(
            member,
            name,
            new_customer_body(member, name, snapshot),
            f"no QBO customer has {email}",
            snapshot,
        )
    )


def _linked_elsewhere(
    plan: MemberPlan,
    member: Member,
    customer: CachedCustomer,
    email: str,
    linked_customers: Mapping[str, list[str]],
) -> bool:
    """The customer with the member's email is another member's: needs review (two members on
    one customer is for the operator to decide)."""
    holders = linked_customers.get(customer.id, [])
    if holders:
        state = "" if customer.active else " (and inactive)"
        plan.verdicts.append(
            Verdict(
                member,
                "needs_review",
                f"customer {customer.id} has {email} but is linked to member "
                f"{', '.join(holders)}{state}",
                (customer.id,),
            )
        )
    return bool(holders)


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 62, value)
