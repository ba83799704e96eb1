"""Jobs: the job log. History, one job's items and requests, retry and cancel, totals and cost per day."""

import streamlit as st

from lib import ui
from lib.screens.jobs import JobsScreen

screen = JobsScreen(ui.runtime())
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
            n = screen.retry_failed(job_id=detail_id)
            ui.flash(f"{ui.plural(n, 'item')} queued again.")
            st.rerun()
    if head[2].button("Cancel job", key="jobs_cancel", icon=":material/cancel:", disabled=state.finished):
        with ui.errors():
            n = screen.cancel(job_id=detail_id)
            ui.flash(f"Job #{job.id} cancelled ({ui.plural(n, 'item')} not made).", ":material/cancel:")
            st.rerun()
    if state.paused and st.button("Resume", key="jobs_resume", icon=":material/play_arrow:"):
        with ui.errors():
            screen.resume(job_id=detail_id)
            st.rerun()

    tab_params, tab_items, tab_log = st.tabs(["Parameters", "Items", "Request log"])
    with tab_params:
        params = screen.parameters(job)
        st.dataframe(
            [{"Setting": k, "Value": v} for k, v in params.items()],
            hide_index=True,
            width="stretch",
            height=36 * (len(params) + 1) + 4,
        )
    with tab_items:
        st.dataframe(
            screen.item_rows(detail_id),
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
    if st.button("Open in Gallery", key="jobs_open_gallery", icon=":material/photo_library:"):
        st.session_state[ui.GALLERY_JOB] = job.id
        ui.go("gallery")
