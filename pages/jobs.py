"""Jobs: the job log. History, one job's items and requests, retry and cancel, totals and cost per day."""

import streamlit as st

from lib import actions, jobs, ui, views
from lib.auth import audit, budgets
from lib.auth.roles import Permission
from lib.errors import AppError
from lib.models import TERMINAL_JOB, JobStatus
from lib.views import fmt_cost, fmt_ms, plural

rt = ui.runtime()
me = ui.actor()
ui.page_header("Jobs", "Everything that was generated: what was asked, how it went, what it cost.")

PER_PAGE = 20

# Totals ------------------------------------------------------------------------------------------------
tot = jobs.totals(rt.db)
m = st.columns(4)
m[0].metric("Images made", f"{tot.images:,}")
m[1].metric("Success rate", f"{tot.success_rate:.0%}" if tot.images or tot.success_rate else "—")
m[2].metric("Median time per image", fmt_ms(tot.median_latency_ms))
m[3].metric("Total cost", fmt_cost(tot.cost))
if tot.per_day:
    with st.expander("Images and cost per day (last 30 days)", expanded=True):
        rows = views.per_day_rows(tot.per_day)
        c1, c2 = st.columns(2)
        c1.bar_chart(rows, x="Day", y="Images", height=220)
        c2.bar_chart(rows, x="Day", y="Cost (USD)", height=220, color="#2f7d4f")

# History ------------------------------------------------------------------------------------------------
st.subheader("History")
f = st.columns([2, 2, 3])
status = f[0].selectbox(
    "State",
    ["", *[s.value for s in JobStatus]],
    key="jobs_status",
    format_func=lambda s: views.state_label(s).capitalize() if s else "Any state",
)
source = f[1].selectbox(
    "Source",
    ["", *views.SOURCE_LABELS],
    key="jobs_source",
    format_func=lambda s: views.SOURCE_LABELS.get(s, "Any source"),
)
if st.session_state.get("jobs_filters") != (status, source):
    st.session_state["jobs_filters"] = (status, source)
    st.session_state["jobs_page"] = 1
page_no = int(st.session_state.get("jobs_page", 1))
page_jobs, total = jobs.list_jobs(
    rt.db, page=page_no, per_page=PER_PAGE, status=status or None, source_kind=source or None
)
if not total:
    if status or source:
        st.info("No jobs match these filters.", icon=":material/filter_alt:")
    else:
        ui.empty_state(
            "No jobs yet",
            "Choose products and launch a job; its progress and history appear here.",
            page="products",
            label="Choose products",
        )
    st.stop()

pages = max(1, -(-total // PER_PAGE))
event = st.dataframe(
    views.job_rows(page_jobs),
    key="jobs_table",
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "Created": st.column_config.DatetimeColumn("Created", format="MMM D, HH:mm"),
        "Cost": st.column_config.NumberColumn("Cost", format="$%.4f"),
    },
)


def _go(delta: int) -> None:
    st.session_state["jobs_page"] = page_no + delta


nav = st.columns([1, 2, 1], vertical_alignment="center")
nav[0].button("Newer", key="jobs_prev", on_click=_go, args=(-1,), disabled=page_no <= 1, icon=":material/chevron_left:")
nav[1].markdown(f"{plural(total, 'job')} · page **{page_no}** of **{pages}**")
nav[2].button(
    "Older",
    key="jobs_next",
    on_click=_go,
    args=(1,),
    disabled=page_no >= pages,
    icon=":material/chevron_right:",
    icon_position="right",
)

# Detail --------------------------------------------------------------------------------------------------
rows = event.selection.rows if event and event.selection else []
options = [j.id for j in page_jobs]
if rows and rows[0] < len(options):
    st.session_state["jobs_detail"] = options[rows[0]]
detail_id = st.session_state.get("jobs_detail") or options[0]
if not rows:
    st.caption("Select a row to see that job; showing " + f"job #{detail_id}.")
try:
    job = jobs.get_job(rt.db, detail_id)
except AppError as exc:
    ui.show_error(exc)
    st.stop()
assert job.id is not None  # a stored job

with st.container(border=True):
    head = st.columns([5, 2, 2], vertical_alignment="center")
    head[0].subheader(views.job_title(job))
    with head[0]:
        ui.status_badge(job.status)
    if job.error:
        st.warning(job.error, icon=":material/warning:")
    progress = jobs.job_progress(rt.db, job.id)
    if job.status not in TERMINAL_JOB:
        st.progress(views.progress_view(progress).fraction, text=views.progress_view(progress).text)
    failed = progress.counts.get("failed", 0)
    if head[1].button(
        f"Retry {failed} failed" if failed else "Retry failed",
        key="jobs_retry",
        icon=":material/replay:",
        disabled=not failed or job.status == JobStatus.CANCELLED,
    ):
        with ui.errors():
            n = actions.retry_failed(rt, actor=me, job_id=job.id)
            ui.flash(f"{plural(n, 'item')} queued again.")
            st.rerun()
    if head[2].button("Cancel job", key="jobs_cancel", icon=":material/cancel:", disabled=job.status in TERMINAL_JOB):
        with ui.errors():
            n = actions.cancel_job(rt, actor=me, job_id=job.id)
            ui.flash(f"Job #{job.id} cancelled ({plural(n, 'item')} not made).", ":material/cancel:")
            st.rerun()
    share = budgets.share(rt.db, job.id)
    if share is not None:
        cap = "no limit" if share.cap_usd is None else budgets.usd(share.cap_usd)
        who = share.launched_email or share.launched_by
        st.caption(ui.escape_md(f"Launched by {who}; budget share {cap}, spent {budgets.usd(job.actual_cost)}."))
    capped = share is not None and share.cap_usd is not None
    if job.status == JobStatus.PAUSED and capped and share is not None and me.can(Permission.BUDGETS):
        r = st.columns([2, 1], vertical_alignment="bottom")
        suggested = float(share.cap_usd or 0) * 2 or 1.0
        new_cap = r[0].number_input("Raise this job's share to (USD)", min_value=0.0, value=suggested, key="jobs_share")
        if r[1].button("Raise and resume", key="jobs_raise_resume", icon=":material/trending_up:"):
            with ui.errors():
                budgets.raise_job_share(rt.db, actor=me, job_id=job.id, cap_usd=float(new_cap))
                actions.resume_job(rt, actor=me, job_id=job.id)
                ui.flash(f"Job #{job.id} may now spend {budgets.usd(new_cap)}; it is running again.")
                st.rerun()
    if job.status == JobStatus.PAUSED and st.button("Resume", key="jobs_resume", icon=":material/play_arrow:"):
        with ui.errors():
            actions.resume_job(rt, actor=me, job_id=job.id)
            st.rerun()

    tab_params, tab_items, tab_log, tab_who = st.tabs(["Parameters", "Items", "Request log", "Who did what"])
    with tab_params:
        params = views.job_parameters(job)
        st.dataframe(
            [{"Setting": k, "Value": v} for k, v in params.items()],
            hide_index=True,
            width="stretch",
            height=36 * (len(params) + 1) + 4,
        )
    with tab_items:
        items = jobs.job_items(rt.db, job.id)
        st.dataframe(
            views.item_rows(items),
            hide_index=True,
            width="stretch",
            column_config={"Cost": st.column_config.NumberColumn("Cost", format="$%.4f")},
        )
    with tab_log:
        events = jobs.job_events(rt.db, job.id, limit=500)
        if events:
            st.dataframe(
                views.event_rows(events),
                hide_index=True,
                width="stretch",
                column_config={"At": st.column_config.DatetimeColumn("At", format="HH:mm:ss")},
            )
        else:
            st.caption("No events recorded yet.")
    with tab_who:
        trail = audit.job_entries(rt.db, job.id)
        if trail:
            st.dataframe(
                audit.rows(trail),
                hide_index=True,
                width="stretch",
                column_config={"At": st.column_config.DatetimeColumn("At", format="YYYY-MM-DD HH:mm:ss")},
            )
            st.download_button(
                "Download as CSV",
                audit.to_csv(trail),
                file_name=f"job-{job.id}-audit.csv",
                mime="text/csv",
                key="jobs_audit_csv",
                icon=":material/download:",
            )
        else:
            st.caption("Nobody has changed this job yet.")
    if st.button("Open in Gallery", key="jobs_open_gallery", icon=":material/photo_library:"):
        st.session_state[ui.GALLERY_JOB] = job.id
        ui.go("gallery")

# Spend per person and month, and the budgets ---------------------------------------------------------------
spend = budgets.spend_by_person(rt.db)
limits = budgets.budgets(rt.db)
if spend or limits or me.can(Permission.BUDGETS):
    with st.expander("Spend per person and month", expanded=False, icon=":material/payments:"):
        for left in budgets.what_is_left(rt.db, me.name):
            whose = "The team's" if left.scope == budgets.DEPLOYMENT else "Your"
            st.caption(
                f"{whose} budget this month: {budgets.usd(left.limit)}, {budgets.usd(left.left)} left "
                f"({budgets.usd(left.committed)} spent or committed to running jobs)."
            )
        if spend:
            st.dataframe(
                [{"Month": r.month, "Person": r.person, "Jobs": r.jobs, "Spent (USD)": r.spent} for r in spend],
                hide_index=True,
                width="stretch",
                column_config={"Spent (USD)": st.column_config.NumberColumn(format="$%.2f")},
            )
        else:
            st.caption("Nothing spent in the last six months.")
        if me.can(Permission.BUDGETS):
            b = st.columns([2, 2, 1], vertical_alignment="bottom")
            person = b[0].text_input("Person (empty: the whole team)", key="jobs_budget_person")
            amount = b[1].number_input("Monthly budget (USD)", min_value=0.0, step=10.0, key="jobs_budget_usd")
            if b[2].button("Set budget", key="jobs_budget_set", icon=":material/savings:"):
                with ui.errors():
                    budgets.set_budget(rt.db, actor=me, monthly_usd=float(amount), person=person.strip() or None)
                    ui.flash("Budget saved.")
                    st.rerun()
