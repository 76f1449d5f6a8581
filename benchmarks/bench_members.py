"""Benchmark: connect-members at scale (qbsync's engine vs a naive python-quickbooks script).

Run: ``.venv/bin/python benchmarks/bench_members.py [--quick] [--json PATH]`` (``make bench``).

The company: N customers (default 10,000), half of them holding a member's email: most exactly,
5% in another case, 5% inside a comma-separated list, 1 in 250 inactive ("... (deleted)"); the
other half unrelated (a tenth without an email). N active members, so half of them need a new
customer. The emulator runs in its own process with QBO's limits on, its windows divided by
``--time-scale``; qbsync's client paces itself on the same scale.

Runs, each in a fresh process (its CPU and peak RSS are qbsync's alone):
- first:   prepare_connect + apply_connect on an empty state (full read, links, creates)
- second:  a day later, nothing changed at the source or in QBO
- third:   another day later, still nothing changed (steady state)
- signups: another day later, with --signups new members
- naive:   on a fresh emulator with the same seed, for each member ``Customer.filter(
           PrimaryEmailAddr=email)``, then ``Customer(...).save()`` when none is found; paced at
           480 requests/min (the scaled minute), waiting Intuit's 60 s (scaled) after a 429.

The emulator's clock is moved a day ahead before each qbsync run (QBO's LastUpdatedTime stamps
then look as they would in a daily cron job); that is setup, like seeding, and not measured.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit as kit

from qbsync.sources.records import Member
from qbsync.sync.connect import apply_connect, prepare_connect
from qbsync.sync.contacts import split_emails

DAY = 86400.0
FIRST = (
    "Ada", "Ben", "Cora", "Dev", "Ela", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena",
    "Milo", "Nia", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wes", "Xena",
    "Yara", "Zane", "Alma", "Bo", "Cleo", "Dario", "Edie", "Felix", "Greta", "Hal", "Iris",
    "Jude", "Kira", "Lou", "Mae", "Ned",
)  # fmt: skip
SURNAME_START = ("Ash", "Black", "Brook", "Clay", "Fair", "Green", "Hart", "Lang", "Moor", "West")
SURNAME_END = (
    "ford", "wood", "well", "ley", "ton", "by", "field", "more", "wick", "holm", "dale", "stead",
    "worth", "combe", "bury", "mere", "shaw", "land", "croft", "gate", "ridge", "thorpe", "hurst",
    "ham", "bridge",
)  # fmt: skip


# --- the data: deterministic, so every process builds the same ---------------------------------


def person(i: int) -> tuple[str, str, str]:
    """Member i's first name, last name and email (all distinct up to 10,000 members)."""
    first = FIRST[i % len(FIRST)]
    j = i // len(FIRST)
    last = SURNAME_START[j % len(SURNAME_START)] + SURNAME_END[(j // 10) % len(SURNAME_END)]
    if i >= len(FIRST) * len(SURNAME_START) * len(SURNAME_END):
        last += f" {i // 10000 + 1}"
    return first, last, f"{first}.{last}.{i}@members.example".lower().replace(" ", "")


def make_member(i: int) -> Member:
    first, last, email = person(i)
    return Member(
        f"M{i:05d}", email, first_name=first, last_name=last, phone=f"(503) 555-{i % 10000:04d}"
    )


def make_members(count: int) -> list[Member]:
    return [make_member(i) for i in range(count)]


def sample(count: int, size: int) -> list[int]:
    """``size`` member indices of ``count``, spread like the whole (fixed seed)."""
    if size >= count:
        return list(range(count))
    return sorted(random.Random(42).sample(range(count), size))


def match_kind(i: int) -> str:
    if i % 250 == 7:
        return "inactive"
    if i % 20 == 1:
        return "case"
    if i % 20 == 2:
        return "list"
    return "exact"


def make_customers(members: int, customers: int) -> list[dict[str, Any]]:
    """The company: customers for the first half of the members, then unrelated ones."""
    matched = min(members, customers) // 2
    out: list[dict[str, Any]] = []
    for i in range(matched):
        first, last, email = person(i)
        kind = match_kind(i)
        record: dict[str, Any] = {
            "DisplayName": f"{first} {last}",
            "GivenName": first,
            "FamilyName": last,
            "PrimaryEmailAddr": {"Address": email},
        }
        if kind == "case":
            record["PrimaryEmailAddr"] = {"Address": email.title()}
        elif kind == "list":
            record["PrimaryEmailAddr"] = {"Address": f"billing{i}@household.example, {email}"}
        elif kind == "inactive":
            record["Active"] = False
            record["DisplayName"] += " (deleted)"
        out.append(record)
    for j in range(customers - matched):
        record = {"DisplayName": f"Walk-in Client {j:05d}", "CompanyName": f"Walk-in {j:05d} LLC"}
        if j % 10:
            record["PrimaryEmailAddr"] = {"Address": f"client{j:05d}@walkin.example"}
        out.append(record)
    return out


# --- the runs (each in its own process) ----------------------------------------------------------


def qbsync_run(
    workdir: str, time_scale: float, members: int, offset_s: float, profile: str | None
) -> dict[str, Any]:
    logging.getLogger("qbsync").setLevel(logging.ERROR)
    config, client, state = kit.open_profile(Path(workdir), time_scale)
    people = make_members(members)
    offset = timedelta(seconds=offset_s)

    def now() -> datetime:
        return datetime.now(UTC) + offset  # QBO's clock: the emulator's was moved ahead

    with kit.measured(profile) as out:
        prepared = prepare_connect(
            people, [], client=client, state=state, config=config, full=False, now=now()
        )
        result = apply_connect(
            prepared, client=client, state=state, config=config, run_id=None, now=now
        )
    summary = result.summary()
    out["client_requests"] = client.request_count
    out["pacer_waited_s"] = round(client.session.pacer.waited, 2)
    out["outcome"] = {
        k: summary[k]
        for k in (
            "customers_read",
            "customer_read_mode",
            "linked",
            "created",
            "reactivated",
            "updated",
            "unchanged",
            "needs_review",
            "failed",
        )
    }
    out["failures"] = summary["failures"][:5]
    state.close()
    return out


def naive_run(
    base_url: str,
    realm_id: str,
    token: str,
    time_scale: float,
    indices: list[int],
    profile: str | None,
) -> dict[str, Any]:
    """What a user writes with python-quickbooks: one query per member, one create per miss."""
    from quickbooks.exceptions import QuickbooksException
    from quickbooks.objects.base import EmailAddress, PhoneNumber
    from quickbooks.objects.customer import Customer

    naive = kit.NaiveClient(base_url, realm_id, token, time_scale)
    qb, call = naive.qb, naive.call

    people = [make_member(i) for i in indices]
    links: dict[str, str] = {}
    created = 0
    errors: Counter[str] = Counter()
    with kit.measured(profile) as out:
        for member in people:
            found = call(lambda m=member: Customer.filter(PrimaryEmailAddr=m.email, qb=qb))
            if found:
                links[member.id] = found[0].Id
                continue
            customer = Customer()
            customer.DisplayName = f"{member.first_name} {member.last_name}"
            customer.GivenName = member.first_name
            customer.FamilyName = member.last_name
            customer.PrimaryEmailAddr = EmailAddress()
            customer.PrimaryEmailAddr.Address = member.email
            customer.PrimaryPhone = PhoneNumber()
            customer.PrimaryPhone.FreeFormNumber = member.phone
            try:
                saved = call(lambda c=customer: c.save(qb=qb))
            except QuickbooksException as exc:
                errors[str(exc.error_code)] += 1
                continue
            links[member.id] = saved.Id
            created += 1
    out["client_requests"] = naive.sent
    out["throttled_429"] = naive.throttled
    out["outcome"] = {"linked": len(links) - created, "created": created, "failed": dict(errors)}
    return out


# --- orchestration -----------------------------------------------------------------------------


def duplicates(emu: kit.EmulatorProcess, indices: range | list[int]) -> int:
    """Member emails held by more than one QBO customer (active or not) after a run."""
    wanted = {person(i)[2] for i in indices}
    holders: Counter[str] = Counter()
    for customer in emu.admin("GET", "dump").get("Customer", []):
        for email in split_emails((customer.get("PrimaryEmailAddr") or {}).get("Address")):
            if email in wanted:
                holders[email] += 1
    return sum(1 for n in holders.values() if n > 1)


def finish(
    row: dict[str, Any], emu: kit.EmulatorProcess, cpu_before: float | None
) -> dict[str, Any]:
    logged = emu.api_requests()
    row["emulator_requests"] = len(logged)
    row["emulator_by_template"] = dict(Counter(e["template"] for e in logged))
    row["emulator_statuses"] = dict(Counter(str(e["status"]) for e in logged))
    row["emulator_cpu_s"] = kit.emulator_cpu(emu, cpu_before)
    batches = sum(1 for e in logged if e["template"].endswith("/batch"))
    # The shortest the run can be at QBO's limits: 500 requests a minute, and 40 batch
    # requests a minute per realm and app (qbo-facts.md "Batch").
    row["floor_s"] = round(max(len(logged) / 500, batches / 40) * 60 / emu.time_scale, 2)
    return row


def run_qbsync(args: argparse.Namespace, tmp: Path, seed: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    workdir = tmp / "qbsync"
    workdir.mkdir()
    with kit.EmulatorProcess(seed, tmp, time_scale=args.time_scale) as emu:
        kit.connect_profile(emu, workdir)
        _, client, state = kit.open_profile(workdir, args.time_scale)
        state.bind_realm(client.realm_id, now=datetime.now(UTC), company_name="bench")
        state.close()
        matched = min(args.members, args.customers) // 2
        plans = [
            ("first", args.members, kit.ceil_div(args.customers, 1000) + 5),
            ("second", args.members, 2),
            ("third", args.members, 2),
            ("signups", args.members + args.signups, 2 + kit.ceil_div(args.signups, 30) + 2),
        ]
        for name, members, budget in plans:
            emu.advance_clock(DAY)
            kit.refresh_tokens(emu, workdir)
            emu.clear_requests()
            cpu = emu.cpu_seconds()
            profile = args.profile if args.profile_run == name else None
            row = kit.run_measured(
                qbsync_run,
                str(workdir),
                args.time_scale,
                members,
                emu.clock_offset.total_seconds(),
                profile,
            )
            if name == "first":  # the creates this run made (the budget is in the brief's terms)
                budget += kit.ceil_div(row["outcome"]["created"], 30)
            row["expected_max"] = budget
            row["members"] = members
            results[name] = finish(row, emu, cpu)
            _progress(name, results[name], args)
        results["first"]["planned_creates"] = args.members - matched
        results["signups"]["duplicate_emails"] = duplicates(emu, range(args.members + args.signups))
    return results


def run_naive(args: argparse.Namespace, tmp: Path, seed: Path) -> dict[str, Any]:
    indices = sample(args.members, args.naive_members or args.members)
    count = len(indices)
    with kit.EmulatorProcess(seed, tmp, time_scale=args.time_scale) as emu:
        emu.admin(
            "POST",
            "clients",
            {
                "client_id": kit.CLIENT_ID,
                "client_secret": kit.CLIENT_SECRET,
                "redirect_uris": [kit.REDIRECT_URI],
            },
        )
        token = emu.admin("POST", "tokens", {"client_id": kit.CLIENT_ID})["access_token"]
        emu.clear_requests()
        cpu = emu.cpu_seconds()
        profile = args.profile if args.profile_run == "naive" else None
        row = kit.run_measured(
            naive_run, emu.base_url, emu.realm_id, token, args.time_scale, indices, profile
        )
        row["members"] = count
        finish(row, emu, cpu)
        row["duplicate_emails"] = duplicates(emu, indices)
    if count < args.members:  # a subset: scale the per-member work linearly
        factor = args.members / count
        row["extrapolated_from_members"] = count
        keys = (
            "client_requests",
            "emulator_requests",
            "wall_s",
            "cpu_s",
            "emulator_cpu_s",
            "floor_s",
        )
        for key in keys:
            if row.get(key) is not None:
                row[f"{key}_measured"] = row[key]
                row[key] = round(row[key] * factor, 2 if isinstance(row[key], float) else None)
    return row


def _progress(name: str, row: dict[str, Any], args: argparse.Namespace) -> None:
    if not args.quiet:
        print(
            f"  {name}: {row['client_requests']} requests, {row['wall_s']} s, "
            f"cpu {row['cpu_s']} s, peak {row['peak_rss_mb']} MB, {row.get('outcome')}",
            file=sys.stderr,
        )


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    rows = []
    for name, run in results["runs"].items():
        qbo_minutes = run["wall_s"] * args.time_scale / 60
        out = run.get("outcome", {})
        rows.append(
            {
                "run": name + (" (extrapolated)" if run.get("extrapolated_from_members") else ""),
                "members": args.members if name == "naive" else run["members"],
                "requests": run["client_requests"],
                "log": run["emulator_requests"],
                "expected": f"<= {run['expected_max']}" if "expected_max" in run else "",
                "wall": run["wall_s"],
                "floor": run["floor_s"],
                "qbo_min": round(qbo_minutes, 1),
                "cpu": run["cpu_s"],
                "rss": run["peak_rss_mb"],
                "emu_cpu": run.get("emulator_cpu_s"),
                "outcome": (
                    f"of {run['extrapolated_from_members']} sampled: "
                    if run.get("extrapolated_from_members")
                    else ""
                )
                + ", ".join(
                    f"{k}={v}"
                    for k, v in out.items()
                    if k not in ("customers_read", "customer_read_mode") and v
                ),
            }
        )
    columns = [
        ("run", "run"),
        ("members", "members"),
        ("requests", "QBO requests"),
        ("log", "emulator log"),
        ("expected", "expected"),
        ("wall", "wall s"),
        ("floor", "floor s"),
        ("qbo_min", "QBO-min"),
        ("cpu", "CPU s"),
        ("rss", "peak RSS MB"),
        ("emu_cpu", "emulator CPU s"),
        ("outcome", "outcome"),
    ]
    lines = [kit.table(rows, columns), ""]
    first, naive = results["runs"]["first"], results["runs"].get("naive")
    lines.append(
        f"first run: CPU {first['cpu_s']} s (target < 3 s), peak RSS {first['peak_rss_mb']} MB "
        f"(target < 150 MB; {first['rss_before_mb']} MB before the run)"
    )
    for name, run in results["runs"].items():
        if "expected_max" in run:
            verdict = "ok" if run["client_requests"] <= run["expected_max"] else "MISSED"
            lines.append(
                f"{name}: {run['client_requests']} requests, expected <= {run['expected_max']}: "
                f"{verdict}  {run['emulator_by_template']}"
            )
    if naive:
        ratio = naive["client_requests"] / max(1, first["client_requests"])
        lines.append(
            f"naive / qbsync first run: {ratio:.0f}x the requests (target >= 20x); naive "
            f"throttled {naive.get('throttled_429', 0)} times, left "
            f"{naive['duplicate_emails']} member emails on two customers; every later naive run "
            f"costs {args.members} queries again (qbsync: see second/third)"
        )
    lines.append(
        "floor s: the shortest run QBO's limits allow (500 requests, 40 batches a minute), "
        f"divided by the time scale ({args.time_scale:g}); QBO-min = wall x time scale / 60. "
        "The naive wall time is mostly the emulator scanning every customer for each email "
        "query (see emulator CPU): compare its floor, not its wall"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 members: a smoke test")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--signups", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument(
        "--naive-members",
        type=int,
        default=1000,
        help="run the naive script on this many members (sampled) and scale linearly; 0: all",
    )
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--profile", choices=("cpu", "mem"), help="cProfile or tracemalloc")
    parser.add_argument(
        "--profile-run", default="first", choices=("first", "second", "third", "signups", "naive")
    )
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.customers, args.signups = 1000, 1000, 20
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-members-") as tmp_name:
        tmp = Path(tmp_name)
        seed = kit.write_seed(tmp / "seed.json", make_customers(args.members, args.customers))
        runs: dict[str, Any] = run_qbsync(args, tmp, seed)
        if not args.skip_naive:
            runs["naive"] = run_naive(args, tmp, seed)
            _progress("naive", runs["naive"], args)
    return kit.publish(
        "members",
        args,
        runs,
        started,
        report,
        members=args.members,
        customers=args.customers,
        signups=args.signups,
    )


if __name__ == "__main__":
    raise SystemExit(main())
