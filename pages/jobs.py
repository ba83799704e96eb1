"""Jobs: the job log. History, one job's items and requests, retry and cancel, totals and cost per day."""

import streamlit as st

from lib import ui
from lib.screens.jobs import JobsScreen

screen = JobsScreen(ui.runtime())
me = ui.actor()
ui.page_header("Jobs", "Everything that was generated: what was asked, how it went, what it cost.")

PER_PAGE = 20

# Totals ------------------------------------------------------------------------------------------------
tot = screen.totals()
m = st.columns(4)
m[0].metric("Images made", f"{tot.images:,}")
m[1].metric("Success rate", f"{tot.success_rate:.0%}" if tot.images or tot.success_rate else "—")
m[2].metric("Median time per image", ui.fmt_ms(tot.median_latency_ms))
m[3].metric("Total cost", ui.fmt_cost(tot.cost))
if tot.per_day:
    with st.expander("Images and cost per day (last 30 days)", expanded=True):
        rows = screen.per_day_rows(tot)
        c1, c2 = st.columns(2)
        c1.bar_chart(rows, x="Day", y="Images", height=220)
        c2.bar_chart(rows, x="Day", y="Cost (USD)", height=220, color="#2f7d4f")

health = screen.health()
st.caption(ui.escape_md(health.line), help="Workers report themselves every few seconds, from any machine.")
if health.stalled:
    st.warning(health.stalled, icon=":material/warning:")

# History ------------------------------------------------------------------------------------------------
st.subheader("History")
f = st.columns([2, 2, 3])
status = f[0].selectbox("State", screen.STATUSES, key="jobs_status", format_func=screen.status_label)
source = f[1].selectbox("Source", screen.SOURCES, key="jobs_source", format_func=screen.source_label)
if st.session_state.get("jobs_filters") != (status, source):
    st.session_state["jobs_filters"] = (status, source)
    st.session_state["jobs_page"] = 1
page_no = int(st.session_state.get("jobs_page", 1))
page_jobs, total = screen.history(page=page_no, per_page=PER_PAGE, status=status, source=source)
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
    screen.rows(page_jobs),
    key="jobs_table",
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "Created": st.column_config.DatetimeColumn("Created", format="MMM D, HH:mm"),
        "Cost": st.column_config.TextColumn("Cost"),
    },
)


def _go(delta: int) -> None:
    st.session_state["jobs_page"] = page_no + delta


nav = st.columns([1, 2, 1], vertical_alignment="center")
nav[0].button("Newer", key="jobs_prev", on_click=_go, args=(-1,), disabled=page_no <= 1, icon=":material/chevron_left:")
nav[1].markdown(f"{ui.plural(total, 'job')} · page **{page_no}** of **{pages}**")
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
picked_rows = event.selection.rows if event and event.selection else []
options = [j.id for j in page_jobs]
if picked_rows and picked_rows[0] < len(options):
    st.session_state["jobs_detail"] = options[picked_rows[0]]
detail_id: int = st.session_state.get("jobs_detail") or options[0] or 0
if not picked_rows:
    st.caption("Select a row to see that job; showing " + f"job #{detail_id}.")
try:
    state = screen.state(detail_id)
except ui.AppError as exc:
    ui.show_error(exc)
    st.stop()
job = state.job

with st.container(border=True):
    head = st.columns([5, 2, 2], vertical_alignment="center")
    head[0].subheader(ui.escape_md(state.title))
    with head[0]:
        ui.status_badge(job.status)
    if job.error:
        st.warning(job.error, icon=":material/warning:")
    if not state.finished:
        st.progress(state.progress.fraction, text=state.progress.text)
    if head[1].button(
        f"Retry {state.failed} failed" if state.failed else "Retry failed",
        key="jobs_retry",
        icon=":material/replay:",
        disabled=not state.failed or state.cancelled,
    ):
        with ui.errors():
            n = screen.retry_failed(actor=me, job_id=detail_id)
            ui.flash(f"{ui.plural(n, 'item')} queued again.")
            st.rerun()
    if head[2].button("Cancel job", key="jobs_cancel", icon=":material/cancel:", disabled=state.finished):
        with ui.errors():
            n = screen.cancel(actor=me, job_id=detail_id)
            ui.flash(f"Job #{job.id} cancelled ({ui.plural(n, 'item')} not made).", ":material/cancel:")
            st.rerun()
    share = screen.share(detail_id)
    if share is not None:
        st.caption(ui.escape_md(screen.share_caption(share, job)))
    if state.paused and share is not None and share.cap_usd is not None and screen.may_set_budgets(me):
        r = st.columns([2, 1], vertical_alignment="bottom")
        suggested = float(share.cap_usd or 0) * 2 or 1.0
        new_cap = r[0].number_input("Raise this job's share to (USD)", min_value=0.0, value=suggested, key="jobs_share")
        if r[1].button("Raise and resume", key="jobs_raise_resume", icon=":material/trending_up:"):
            with ui.errors():
                screen.raise_share_and_resume(actor=me, job_id=detail_id, cap_usd=float(new_cap))
                ui.flash(f"Job #{job.id} may now spend {screen.usd(new_cap)}; it is running again.")
                st.rerun()
    if state.paused and st.button("Resume", key="jobs_resume", icon=":material/play_arrow:"):
        with ui.errors():
            screen.resume(actor=me, job_id=detail_id)
            st.rerun()

    tab_params, tab_items, tab_log, tab_who = st.tabs(["Parameters", "Items", "Request log", "Who did what"])
    with tab_params:
        params = screen.parameters(job)
        st.dataframe(
            [{"Setting": k, "Value": v} for k, v in params.items()],
            hide_index=True,
            width="stretch",
            height=36 * (len(params) + 1) + 4,
        )
    with tab_items:
        item_pages = max(1, -(-state.items // screen.ITEMS_PER_PAGE))
        item_page = 1
        if item_pages > 1:
            item_page = int(
                st.number_input(
                    f"Page (of {item_pages:,}, {screen.ITEMS_PER_PAGE} items each)",
                    min_value=1,
                    max_value=item_pages,
                    key=f"jobs_items_page_{detail_id}",
                )
            )
        st.dataframe(
            screen.item_rows(detail_id, page=item_page),
            hide_index=True,
            width="stretch",
            column_config={"Cost": st.column_config.TextColumn("Cost")},
        )
    with tab_log:
        events = screen.event_rows(detail_id, limit=500)
        if events:
            st.dataframe(
                events,
                hide_index=True,
                width="stretch",
                column_config={"At": st.column_config.DatetimeColumn("At", format="HH:mm:ss")},
            )
        else:
            st.caption("No events recorded yet.")
    with tab_who:
        trail = screen.trail(detail_id)
        if trail:
            st.dataframe(
                screen.trail_rows(trail),
                hide_index=True,
                width="stretch",
                column_config={"At": st.column_config.DatetimeColumn("At", format="YYYY-MM-DD HH:mm:ss")},
            )
            st.download_button(
                "Download as CSV",
                screen.trail_csv(trail),
                file_name=f"job-{detail_id}-audit.csv",
                mime="text/csv",
                key="jobs_audit_csv",
                icon=":material/download:",
            )
        else:
            st.caption("Nobody has changed this job yet.")
    if st.button("Open in Gallery", key="jobs_open_gallery", icon=":material/photo_library:"):
        st.session_state[ui.GALLERY_JOB] = screen.gallery_job(job)
        ui.go("gallery")

# Spend per person and month, and the budgets ---------------------------------------------------------------
spend = screen.spend()
if spend or screen.budgets() or screen.may_set_budgets(me):
    with st.expander("Spend per person and month", expanded=False, icon=":material/payments:"):
        for line in screen.budget_lines(me):
            st.caption(line)
        if spend:
            st.dataframe(
                [
                    {"Month": r.month, "Person": ui.plain(r.person, 200), "Jobs": r.jobs, "Spent (USD)": r.spent}
                    for r in spend
                ],
                hide_index=True,
                width="stretch",
                column_config={"Spent (USD)": st.column_config.NumberColumn(format="$%.2f")},
            )
        else:
            st.caption("Nothing spent in the last six months.")
        if screen.may_set_budgets(me):
            b = st.columns([2, 2, 1], vertical_alignment="bottom")
            person = b[0].text_input("Person (empty: the whole team)", key="jobs_budget_person")
            amount = b[1].number_input("Monthly budget (USD)", min_value=0.0, step=10.0, key="jobs_budget_usd")
            if b[2].button("Set budget", key="jobs_budget_set", icon=":material/savings:"):
                with ui.errors():
                    screen.set_budget(actor=me, monthly_usd=float(amount), person=person.strip() or None)
                    ui.flash("Budget saved.")
                    st.rerun()
