"""Generate: choose the style and settings for the selected products, check their photos, launch, follow."""

from contextlib import nullcontext

import streamlit as st

from lib import catalog, jobs, ui, views
from lib.catalog import SourceRef
from lib.errors import AppError
from lib.generation import prompts
from lib.generation.base import ASPECT_RATIOS, OUTPUT_SIZES
from lib.views import fmt_cost, plural

rt = ui.runtime()
ui.page_header(
    "Generate",
    "Choose a style and how many images you want, check the photos, then launch. "
    "The work runs in the background; you can leave this page.",
)


# Live progress of the job this session launched ----------------------------------------------------


def _progress_panel(job_id: int) -> bool:
    """Render the job's progress; True when it has finished."""
    progress = jobs.job_progress(rt.db, job_id)
    view = views.progress_view(progress)
    st.progress(view.fraction, text=view.text)
    st.caption(" · ".join(x for x in (view.counts, view.eta, f"cost so far {view.cost}") if x))
    if view.paused:
        job = jobs.get_job(rt.db, job_id)
        st.warning(job.error or "The job is paused.", icon=":material/pause_circle:")
        if st.button("Resume", key="gen_resume", icon=":material/play_arrow:"):
            with ui.errors():
                jobs.resume_job(rt.db, job_id)
                st.rerun()
    for message in view.errors[-5:]:
        st.warning(message, icon=":material/warning:")
    return view.done


@st.fragment(run_every="1s")
def _live(job_id: int) -> None:
    if _progress_panel(job_id):
        st.rerun(scope="app")  # finished: redraw the page once without the timer
    if st.button("Cancel job", key="gen_cancel", icon=":material/cancel:"):
        with ui.errors():
            n = jobs.cancel_job(rt.db, job_id)
            ui.flash(f"Cancelled {plural(n, 'image')} that had not been made yet.", ":material/cancel:")
            st.rerun(scope="app")


book = ui.selections()
selection = book.active
picked_now = (book.current, tuple(selection.items))

job_id = st.session_state.get(ui.CURRENT_JOB)
job = None
if job_id is not None:
    try:
        job = jobs.get_job(rt.db, job_id)
    except AppError:
        st.session_state.pop(ui.CURRENT_JOB, None)
if job is not None and st.session_state.get("gen_launched_with") != picked_now:
    # The selection changed since that launch: the form is for the new one; the job goes on in the background.
    line = views.progress_view(jobs.job_progress(rt.db, job.id)).text
    st.info(
        f"Job #{job.id}: {line}. Follow it on the Jobs page or review it in the Gallery.", icon=":material/autorenew:"
    )
    job = None
if job is not None:
    with st.container(border=True):
        st.subheader(views.job_title(job))
        progress = jobs.job_progress(rt.db, job.id)
        if views.progress_view(progress).done:
            _progress_panel(job.id)
            left, mid, _ = st.columns([2, 2, 3])
            if left.button("Review in Gallery", key="gen_review", type="primary", icon=":material/photo_library:"):
                st.session_state[ui.GALLERY_JOB] = job.id
                ui.go("gallery")
            if mid.button("Set up another job", key="gen_new", icon=":material/add:"):
                st.session_state.pop(ui.CURRENT_JOB, None)
                st.rerun()
        else:
            _live(job.id)
            st.caption("You can keep working elsewhere; the job log keeps going.")
    st.stop()

# The form -------------------------------------------------------------------------------------------
ref = SourceRef.from_key(book.current, views.SOURCE_LABELS.get(book.current.split(":")[0], ""))
if not len(selection):
    ui.empty_state(
        "Nothing selected yet", "Choose the products to photograph first.", page="products", label="Choose products"
    )
    st.stop()

pairs = selection.pairs()
categories = sorted({p.category for p, _ in pairs if p.category})

st.subheader("1 · What you selected")
with st.container(border=True):
    st.markdown(f"**{selection.summary()}** from {ref.label or ref.kind}")
    labels = [picked.label for picked in selection.items.values()]
    shown = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
    st.text(shown)
    ui.page_link("products", label="Change the selection", icon=":material/edit:")

# Style ----------------------------------------------------------------------------------------------
st.subheader("2 · Style")
style_options = [prompts.AUTO_STYLE, *prompts.PRESETS]
if len(categories) == 1:
    default_style = prompts.default_style(categories[0])
    st.caption(f"Preselected for {categories[0]}: {prompts.PRESETS[default_style].label}.")
else:
    default_style = prompts.AUTO_STYLE
    st.caption("Preselected: each product gets its category's usual style.")


def _style_label(key: str) -> str:
    if key == prompts.AUTO_STYLE:
        return "Auto (per category)"
    return prompts.PRESETS[key].label


style = (
    st.pills(
        "Style",
        style_options,
        default=default_style,
        key="gen_style",
        format_func=_style_label,
        required=True,
        label_visibility="collapsed",
    )
    or default_style
)


def _preview(key: str) -> bytes | None:
    try:
        from lib.generation.studio import preset_preview
    except ImportError:
        return None
    try:
        return preset_preview(key, 192)
    except AppError:
        return None


preset_keys = list(prompts.PRESETS)
with st.expander("See what each style looks like", expanded=True):
    per_row = 5
    for start in range(0, len(preset_keys), per_row):
        cols = st.columns(per_row)
        for col, key in zip(cols, preset_keys[start : start + per_row], strict=False):
            preset = prompts.PRESETS[key]
            picked = key == style or (
                style == prompts.AUTO_STYLE and key in {prompts.default_style(c) for c in categories}
            )
            with col.container(border=True):
                data = _preview(key)
                if data:
                    st.image(data, width="stretch")
                st.markdown((":material/check_circle: " if picked else "") + f"**{preset.label}**")
                st.caption(preset.description)

# Settings -------------------------------------------------------------------------------------------
st.subheader("3 · Settings")
providers = views.provider_choices(rt)
prov_by_name = {p.name: p for p in providers}
c1, c2 = st.columns(2)
with c1:
    extra = st.text_area(
        "Extra direction (optional)",
        key="gen_extra",
        max_chars=2000,
        height=100,
        placeholder="e.g. a sprig of rosemary beside it, morning light",
    )
    a1, a2, a3 = st.columns(3)
    aspect = a1.selectbox(
        "Aspect ratio",
        ASPECT_RATIOS,
        key="gen_aspect",
        help="Square (1:1) suits most shop grids; 4:5 suits social feeds.",
    )
    size = a2.selectbox("Output size", OUTPUT_SIZES, key="gen_size", format_func=lambda n: f"{n} px")
    variants = a3.number_input(
        "Variants per product",
        min_value=1,
        max_value=jobs.MAX_VARIANTS,
        value=1,
        key="gen_variants",
        help="More variants give you more to choose from.",
    )
with c2:
    provider = st.radio(
        "AI engine",
        [p.name for p in providers],
        key="gen_provider",
        format_func=lambda n: prov_by_name[n].label,
        captions=[p.note for p in providers],
    )
    choice = prov_by_name[provider]
    model = st.selectbox("Model", choice.models, key=f"gen_model_{provider}", disabled=len(choice.models) < 2)
    batch = use_reference = False
    if not choice.available:
        st.info(choice.note, icon=":material/key:")
    elif provider == "gemini":
        big = jobs.suggested_mode(rt, provider, len(selection) * int(variants)) == "batch"
        batch = st.toggle(
            "Batch mode: half the price, results within hours instead of minutes",
            value=big,
            key="gen_batch",
            help="Sends the images through Google's Batch API. Worth it for large jobs; small ones are quicker online.",
        )
        use_reference = st.checkbox(
            "Match later variants to the product's first approved shot",
            key="gen_reference",
            help="Variants after the first also get the product's first approved image, so Gemini matches its "
            "setting and light. It applies once a shot of that product is approved: when you regenerate a "
            "variant from the Gallery, or in a later job.",
        )

retries = st.number_input(
    "Re-try images flagged as redrawn automatically, up to N times",
    min_value=0,
    max_value=3,
    value=0,
    key="gen_fidelity_retries",
    help="Each image is compared with the product photo. One that shows another colour, label, shape or product "
    "is made again, with what changed added to the prompt as a correction. Each re-try costs one image.",
)

# Photo check ----------------------------------------------------------------------------------------
st.subheader("4 · Photo check")
check_key = (ref.key, tuple(selection.items))
cached = st.session_state.get("gen_checks")
if not cached or cached[0] != check_key:
    try:
        source = catalog.open_source(rt, ref, demo_size=ui.demo_size())
        with st.spinner(f"Checking {plural(len(selection), 'photo')}…") if len(selection) > 12 else nullcontext():
            checks, unchecked = catalog.check_selection(rt, source, ref, selection)
    except AppError as exc:
        ui.show_error(exc)
        checks, unchecked = [], len(selection)
    st.session_state["gen_checks"] = (check_key, checks, unchecked)
else:
    checks, unchecked = cached[1], cached[2]
problems = [c for c in checks if not c.ok]
skip: set[str] = set()
if not checks:
    st.caption("The photos could not be checked; the job will check each one as it runs.")
elif not problems:
    st.success(
        f"All {plural(len(checks), 'photo')} look usable."
        if not unchecked
        else f"The first {plural(len(checks), 'photo')} look usable.",
        icon=":material/check_circle:",
    )
else:
    st.warning(f"{plural(len(problems), 'photo')} may give poor results:", icon=":material/warning:")
    st.dataframe(
        [
            {
                "Product": c.label,
                "Problem": c.problem,
                "White background": f"{c.white_score:.0%}" if c.white_score is not None else "—",
                "Size": f"{c.width}×{c.height}" if c.width else "—",
            }
            for c in problems
        ],
        hide_index=True,
        width="stretch",
    )
    if st.checkbox(f"Skip these {plural(len(problems), 'product')}", value=True, key="gen_skip"):
        skip = {c.key for c in problems}

if unchecked:
    st.caption(f"{plural(unchecked, 'more photo')} will be checked as the job runs; unusable ones fail with a reason.")

# Launch ---------------------------------------------------------------------------------------------
st.subheader("5 · Launch")
spec = jobs.JobSpec(
    source_kind=ref.kind,
    connection_id=ref.connection_id,
    provider=provider,
    model=model,
    style=style,
    prompt_extra=extra,
    aspect_ratio=aspect,
    output_size=int(size),
    variants=int(variants),
    mode="batch" if batch else "online",
    use_reference=use_reference,
    fidelity_retries=int(retries),
)
n_items = len(selection) - len(skip)
cost = jobs.estimate_cost(rt, spec, n_items)
m1, m2, m3 = st.columns(3)
m1.metric("Images to make", f"{n_items * int(variants):,}")
m2.metric("Estimated cost", fmt_cost(cost), help="From the price table in the settings; the studio engine is free.")
m3.metric("Engine", {"studio": "Studio", "gemini": "Gemini"}.get(choice.name, choice.name), help=choice.label)
launch = st.button(
    "Launch",
    key="gen_launch",
    type="primary",
    icon=":material/rocket_launch:",
    disabled=n_items <= 0 or not choice.available,
)
if n_items <= 0:
    st.caption("Every selected photo is skipped; untick “Skip” or choose other products.")
if launch:
    with ui.errors():
        job = jobs.create_job(rt, spec, selection.as_job_selections(skip=skip))
        st.session_state[ui.CURRENT_JOB] = job.id
        st.session_state["gen_launched_with"] = picked_now
        st.session_state.pop("gen_checks", None)
        ui.flash(f"Job #{job.id} started: {plural(job.item_count, 'image')} on the way.", ":material/rocket_launch:")
        st.rerun()
