"""Spending limits: a launch that would pass a budget is refused saying what is left; a running job that reaches
its share pauses (0 items generated past it) and an admin raises the share and resumes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lib import actions, jobs
from lib.auth import budgets
from lib.auth.roles import Actor, Role, local_admin
from lib.errors import BudgetExceeded, BudgetReached, PermissionDenied
from lib.models import ItemStatus, JobStatus
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.sources.demo import DemoSource
from lib.worker import run_until_idle
from tests.conftest import ScriptedProvider

ADMIN = local_admin("root")
RITA = Actor("rita", Role.REVIEWER, email="rita@corp.example")
GEMINI = jobs.JobSpec(source_kind="demo", provider="gemini", model="gemini-2.5-flash-image")


def selections(rt: Runtime, n: int) -> list[jobs.Selection]:
    products = DemoSource(rt).list_products(ProductQuery(per_page=n)).items
    assert len(products) == n
    return [jobs.Selection(p) for p in products]


def test_a_launch_past_the_team_budget_is_refused_saying_what_is_left(rt: Runtime) -> None:
    budgets.set_budget(rt.db, actor=ADMIN, monthly_usd=0.10)
    estimate = jobs.estimate_cost(rt, GEMINI, 5)
    assert estimate > 0.10
    with pytest.raises(BudgetExceeded) as refused:
        actions.launch(rt, actor=RITA, spec=GEMINI, selections=selections(rt, 5))
    month = datetime.now(UTC).strftime("%B %Y")
    assert refused.value.message.startswith(
        f"This job is estimated at ${estimate:.2f}, but only $0.10 is left of the team's monthly budget of $0.10 "
        f"for {month}."
    )
    assert jobs.list_jobs(rt.db, page=1, per_page=10)[1] == 0  # nothing was launched


def test_a_personal_budget_counts_only_that_persons_jobs(rt: Runtime) -> None:
    per_image = jobs.estimate_cost(rt, GEMINI, 1)
    budgets.set_budget(rt.db, actor=ADMIN, monthly_usd=per_image * 2.5, person="rita")
    actions.launch(rt, actor=RITA, spec=GEMINI, selections=selections(rt, 2))
    actions.launch(rt, actor=ADMIN, spec=GEMINI, selections=selections(rt, 3))  # not rita's: not counted
    with pytest.raises(BudgetExceeded, match=r"only \$0\.\d\d is left of your monthly budget"):
        actions.launch(rt, actor=RITA, spec=GEMINI, selections=selections(rt, 1))
    (left,) = budgets.what_is_left(rt.db, "rita")
    assert left.committed == pytest.approx(per_image * 2, abs=1e-3)


def test_only_admins_set_budgets(rt: Runtime) -> None:
    with pytest.raises(PermissionDenied, match="changing budgets needs the admin role"):
        budgets.set_budget(rt.db, actor=RITA, monthly_usd=1e6)
    assert budgets.budgets(rt.db) == {}


def test_a_job_that_reaches_its_share_pauses_with_no_item_generated_past_it(rt: Runtime) -> None:
    provider = ScriptedProvider(cost=0.10)  # each image costs more than the estimate: the share runs out mid-way
    rt.set_provider("gemini", provider)  # type: ignore[arg-type]
    budgets.set_budget(rt.db, actor=ADMIN, monthly_usd=0.50)
    job = actions.launch(rt, actor=RITA, spec=GEMINI, selections=selections(rt, 10))
    assert job.id is not None and job.estimated_cost < 0.50
    share = budgets.share(rt.db, job.id)
    assert share is not None and share.cap_usd == pytest.approx(0.50) and share.launched_by == "rita"

    run_until_idle(rt, concurrency=1)

    paused = jobs.get_job(rt.db, job.id)
    items = jobs.job_items(rt.db, job.id)
    made = sum(i.status == ItemStatus.SUCCEEDED for i in items)
    assert paused.status == JobStatus.PAUSED
    assert "reached its share of the monthly budget ($0.50) and is paused" in (paused.error or "")
    assert provider.calls == made == 5  # the provider was asked for no image past the share
    assert paused.actual_cost == pytest.approx(0.50)
    assert {i.status for i in items if i.status != ItemStatus.SUCCEEDED} == {ItemStatus.QUEUED}
    assert all(i.attempts == 0 for i in items if i.status == ItemStatus.QUEUED)  # pausing spends no retries

    # Resuming alone does not get past the share; a reviewer may not raise it; an admin raises it and resumes.
    with pytest.raises(BudgetReached, match=r"so it stays paused. An admin must raise its share first"):
        actions.resume_job(rt, actor=RITA, job_id=job.id)
    with pytest.raises(PermissionDenied):
        budgets.raise_job_share(rt.db, actor=RITA, job_id=job.id, cap_usd=5.0)
    budgets.raise_job_share(rt.db, actor=ADMIN, job_id=job.id, cap_usd=1.00)
    actions.resume_job(rt, actor=ADMIN, job_id=job.id)
    run_until_idle(rt, concurrency=1)
    done = jobs.get_job(rt.db, job.id)
    assert done.status == JobStatus.SUCCEEDED and provider.calls == 10
    assert done.actual_cost == pytest.approx(1.00)


def test_concurrent_items_do_not_slip_past_the_share(rt: Runtime) -> None:
    provider = ScriptedProvider(cost=0.10)
    rt.set_provider("gemini", provider)  # type: ignore[arg-type]
    budgets.set_budget(rt.db, actor=ADMIN, monthly_usd=0.45)
    job = actions.launch(rt, actor=RITA, spec=GEMINI, selections=selections(rt, 10))
    assert job.id is not None
    run_until_idle(rt, concurrency=4)
    assert jobs.get_job(rt.db, job.id).actual_cost <= 0.45 + 1e-9
    assert jobs.get_job(rt.db, job.id).status == JobStatus.PAUSED


def test_spend_is_reported_per_person_and_month(rt: Runtime) -> None:
    rt.set_provider("gemini", ScriptedProvider(cost=0.25))  # type: ignore[arg-type]
    three = selections(rt, 3)  # no product in both jobs: an identical request would reuse the other's image, free
    actions.launch(rt, actor=RITA, spec=GEMINI, selections=three[:2])
    actions.launch(rt, actor=ADMIN, spec=GEMINI, selections=three[2:])
    run_until_idle(rt)
    month = datetime.now(UTC).strftime("%Y-%m")
    rows = budgets.spend_by_person(rt.db)
    assert [(r.month, r.person, r.jobs, r.spent) for r in rows] == [(month, "rita", 1, 0.5), (month, "root", 1, 0.25)]
