"""Monthly spending limits on the shared AI key: one for the deployment, one per person. The only writer of
Budget and JobShare.

A launch is refused when its estimate would pass what is left this month (committed = finished jobs' actual
cost + running jobs' estimate or actual, whichever is higher). A launched job gets a share: what was left for it
at launch. lib/jobs/transitions.py asks `check_share` in the transaction that records each paid call before it
is sent; a job whose next call would pass its share pauses (BudgetReached), and an admin raises the share (or the
budget) and resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, func, select

from lib.auth import audit
from lib.auth.audit import Action
from lib.auth.roles import Actor, Permission, require
from lib.auth.tables import Budget, JobShare
from lib.db import Database
from lib.errors import BudgetExceeded, BudgetReached, InputError, JobError
from lib.models import TERMINAL_JOB, ItemStatus, Job, JobItem, Stage, utcnow

DEPLOYMENT = "deployment"
_EPS = 1e-9


def person_scope(name: str) -> str:
    return f"user:{name}"


def month_start(now: datetime | None = None) -> datetime:
    now = (now or utcnow()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_name(now: datetime | None = None) -> str:
    return month_start(now).strftime("%B %Y")


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


def set_budget(db: Database, *, actor: Actor, monthly_usd: float | None, person: str | None = None) -> None:
    """Set (or with None remove) the monthly budget of the deployment, or of one person."""
    require(actor, Permission.BUDGETS)
    if monthly_usd is not None and not (0 <= monthly_usd < 1e9):
        raise InputError("A budget is an amount in US dollars, 0 or more. Nothing was changed.")
    scope = person_scope(person.strip().lower()) if person else DEPLOYMENT
    with db.transaction() as s:
        row = s.get(Budget, scope)
        if monthly_usd is None:
            if row is not None:
                s.delete(row)
        else:
            row = row or Budget(scope=scope, monthly_usd=monthly_usd)
            row.monthly_usd = float(monthly_usd)
            row.updated_by = actor.name
            row.updated_at = utcnow()
            s.add(row)
        who = f"{person}'s" if person else "the team's"
        what = "removed" if monthly_usd is None else f"set to {usd(monthly_usd)} a month"
        audit.record(s, actor, Action.BUDGET_SET, f"{who} budget {what}", data={"scope": scope, "usd": monthly_usd})


def budgets(db: Database) -> dict[str, float]:
    with db.session() as s:
        return {b.scope: b.monthly_usd for b in s.exec(select(Budget)).all()}


def _committed(s: Session, since: datetime, person: str | None) -> float:
    query = select(Job.status, Job.estimated_cost, Job.actual_cost).where(col(Job.created_at) >= since)
    if person is not None:
        query = query.join(JobShare, col(JobShare.job_id) == col(Job.id)).where(col(JobShare.launched_by) == person)
    total = 0.0
    for status, estimated, actual in s.exec(query).all():
        total += actual if status in TERMINAL_JOB else max(estimated, actual)
    return total


@dataclass(frozen=True)
class Left:
    scope: str
    limit: float
    committed: float

    @property
    def left(self) -> float:
        return max(0.0, self.limit - self.committed)


def what_is_left(db: Database, actor_name: str, now: datetime | None = None) -> list[Left]:
    """The budgets that apply to this person this month, and how much of each is committed."""
    limits = budgets(db)
    since = month_start(now)
    out: list[Left] = []
    with db.session() as s:
        if DEPLOYMENT in limits:
            out.append(Left(DEPLOYMENT, limits[DEPLOYMENT], _committed(s, since, None)))
        mine = person_scope(actor_name)
        if mine in limits:
            out.append(Left(mine, limits[mine], _committed(s, since, actor_name)))
    return out


def check_launch(db: Database, *, actor: Actor, estimate: float, now: datetime | None = None) -> float | None:
    """The share a new job may spend (None: no budget applies), or BudgetExceeded saying what is left."""
    lefts = what_is_left(db, actor.name, now)
    for b in lefts:
        if estimate > b.left + _EPS:
            whose = "the team's" if b.scope == DEPLOYMENT else "your"
            raise BudgetExceeded(
                f"This job is estimated at {usd(estimate)}, but only {usd(b.left)} is left of {whose} monthly "
                f"budget of {usd(b.limit)} for {_month_name(now)}. Choose fewer products or variants, or ask an "
                "admin to raise the budget. Nothing was launched."
            )
    return min((b.left for b in lefts), default=None)


def record_launch(db: Database, *, actor: Actor, job_id: int, cap: float | None) -> None:
    with db.transaction() as s:
        s.merge(JobShare(job_id=job_id, launched_by=actor.name, launched_email=actor.email, cap_usd=cap))


def share(db: Database, job_id: int) -> JobShare | None:
    with db.session() as s:
        return s.get(JobShare, job_id)


def check_job_share(db: Database, job_id: int, *, resuming: bool = False) -> None:
    """Raise BudgetReached when the job's next paid call could pass its share (see `check_share`)."""
    with db.session() as s:
        check_share(s, job_id, estimate=0.0, resuming=resuming)


def check_share(s: Session, job_id: int, *, estimate: float, resuming: bool = False) -> None:
    """Raise BudgetReached when one more paid call could pass the job's share: what its items cost so far, with each
    call under way priced at least at the per-item price, plus this one (the estimate per item, this call's
    estimate or the average of the finished ones, the highest).

    lib/jobs/transitions.py asks inside the write transaction that records a call before it is sent, so two items
    asking at once are serialised and each counts the other; nothing is written when it refuses."""
    row = s.get(JobShare, job_id)
    if row is None or row.cap_usd is None:
        return
    job = s.get(Job, job_id)
    if job is None:
        return
    rows = s.exec(
        select(JobItem.status, JobItem.stage, func.count(), func.coalesce(func.sum(JobItem.cost), 0.0))
        .where(col(JobItem.job_id) == job_id)
        .group_by(col(JobItem.status), col(JobItem.stage))
    ).all()
    done_n = sum(int(n) for status, _, n, _ in rows if status == ItemStatus.SUCCEEDED)
    done_cost = sum(float(c) for status, _, _, c in rows if status == ItemStatus.SUCCEEDED)
    per_item = max(estimate, job.estimated_cost / max(1, job.item_count), done_cost / done_n if done_n else 0.0)
    committed = 0.0
    for status, stage, n, cost in rows:
        in_flight = status == ItemStatus.RUNNING and stage == Stage.GENERATE
        committed += max(float(cost), per_item * int(n)) if in_flight else float(cost)
    if committed + per_item > row.cap_usd + _EPS:
        if resuming:
            raise BudgetReached(
                f"This job has spent its share of the monthly budget ({usd(row.cap_usd)}), so it stays paused. An "
                "admin must raise its share first (Jobs page), then it can be resumed."
            )
        raise BudgetReached(
            f"This job reached its share of the monthly budget ({usd(row.cap_usd)}) and is paused. An admin can "
            "raise its share and resume it."
        )


def raise_job_share(db: Database, *, actor: Actor, job_id: int, cap_usd: float | None) -> None:
    """Give a job a larger share (None: no limit). Admins only; resuming the job is a separate step."""
    require(actor, Permission.BUDGETS)
    if cap_usd is not None and cap_usd < 0:
        raise InputError("A share is an amount in US dollars, 0 or more. Nothing was changed.")
    with db.transaction() as s:
        if s.get(Job, job_id) is None:
            raise JobError(f"Job {job_id} does not exist.")
        row = s.get(JobShare, job_id) or JobShare(job_id=job_id, launched_by="")
        before = row.cap_usd
        row.cap_usd = cap_usd
        s.add(row)
        shown = "no limit" if cap_usd is None else usd(cap_usd)
        audit.record(
            s, actor, Action.JOB_SHARE_RAISED, f"share {usd(before or 0)} → {shown}", job_id=job_id,
            data={"before": before, "after": cap_usd},
        )  # fmt: skip


@dataclass(frozen=True)
class SpendRow:
    month: str  # YYYY-MM
    person: str
    jobs: int
    spent: float


def spend_by_person(db: Database, months: int = 6, now: datetime | None = None) -> list[SpendRow]:
    """Actual spend per month (of the job's launch) and per person who launched it, newest month first."""
    start = month_start(now)
    year, month = start.year, start.month - (months - 1)
    while month <= 0:
        year, month = year - 1, month + 12
    start = start.replace(year=year, month=month)
    with db.session() as s:
        rows = s.exec(
            select(Job.created_at, Job.actual_cost, JobShare.launched_by)
            .join(JobShare, col(JobShare.job_id) == col(Job.id), isouter=True)
            .where(col(Job.created_at) >= start)
        ).all()
    acc: dict[tuple[str, str], list[float]] = {}
    for created, cost, person in rows:
        key = (created.astimezone(UTC).strftime("%Y-%m"), person or "(before sign-in)")
        acc.setdefault(key, []).append(cost)
    out = [SpendRow(m, p, len(c), round(sum(c), 4)) for (m, p), c in acc.items()]
    return sorted(out, key=lambda r: (r.month, r.spent), reverse=True)
