"""Jobs: the job log. History, one job's items and requests, retry and cancel, totals and cost per day."""

import streamlit as st

from lib import actions, jobs, ui, views
from lib.errors import AppError
from lib.models import TERMINAL_JOB, JobStatus
from lib.views import fmt_cost, fmt_ms, plural

rt = ui.runtime()
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
            n = actions.retry_failed(rt, actor=ui.actor(), job_id=job.id)
            ui.flash(f"{plural(n, 'item')} queued again.")
            st.rerun()
    if head[2].button("Cancel job", key="jobs_cancel", icon=":material/cancel:", disabled=job.status in TERMINAL_JOB):
        with ui.errors():
            n = actions.cancel_job(rt, actor=ui.actor(), job_id=job.id)
            ui.flash(f"Job #{job.id} cancelled ({plural(n, 'item')} not made).", ":material/cancel:")
            st.rerun()
    if job.status == JobStatus.PAUSED and st.button("Resume", key="jobs_resume", icon=":material/play_arrow:"):
        with ui.errors():
            actions.resume_job(rt, actor=ui.actor(), job_id=job.id)
            st.rerun()

    tab_params, tab_items, tab_log = st.tabs(["Parameters", "Items", "Request log"])
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
    if st.button("Open in Gallery", key="jobs_open_gallery", icon=":material/photo_library:"):
        st.session_state[ui.GALLERY_JOB] = job.id
        ui.go("gallery")
