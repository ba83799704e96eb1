"""Generate: choose the style and settings for the selected products, check their photos, launch, follow."""

import time
from contextlib import nullcontext

import streamlit as st

from lib import ui
from lib.screens.generate import GenerateScreen

screen = GenerateScreen(ui.runtime())
me = ui.actor()
ui.page_header(
    "Generate",
    "Choose a style and how many images you want, check the photos, then launch. "
    "The work runs in the background; you can leave this page.",
)


# Live progress of the job this session launched ----------------------------------------------------


def _progress_panel(job_id: int) -> bool:
    """Render the job's progress; True when it has finished."""
    view = screen.progress(job_id)
    # When the figures last moved: a panel that keeps saying "updated 2 s ago" is polling; the age grows while the
    # worker is busy on a long item, and resets as soon as anything changes.
    seen_key = f"gen_progress_seen_{job_id}"
    signature, now = (view.text, view.counts), time.monotonic()
    seen = st.session_state.get(seen_key)
    if seen is None or seen[0] != signature:
        seen = st.session_state[seen_key] = (signature, now)
    updated = ui.fmt_updated(now - seen[1])
    st.progress(view.fraction, text=view.text)
    st.caption(" · ".join(x for x in (view.counts, view.eta, f"cost so far {view.cost}", updated) if x))
    if view.paused:
        paused = screen.job(job_id)
        st.warning((paused.error if paused else None) or "The job is paused.", icon=":material/pause_circle:")
        if st.button("Resume", key="gen_resume", icon=":material/play_arrow:"):
            with ui.errors():
                screen.resume(actor=me, job_id=job_id)
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
            n = screen.cancel(actor=me, job_id=job_id)
            ui.flash(f"Cancelled {ui.plural(n, 'image')} that had not been made yet.", ":material/cancel:")
            st.rerun(scope="app")


book = ui.selections()
selection = book.active
picked_now = (book.current, tuple(selection.items))

job_id: int | None = st.session_state.get(ui.CURRENT_JOB)
job = screen.job(job_id) if job_id is not None else None
if job_id is not None and job is None:
    st.session_state.pop(ui.CURRENT_JOB, None)
if job_id is not None and job is not None and st.session_state.get("gen_launched_with") != picked_now:
    # The selection changed since that launch: the form is for the new one; the job goes on in the background.
    line = screen.progress(job_id).text
    st.info(
        f"Job #{job_id}: {line}. Follow it on the Jobs page or review it in the Gallery.", icon=":material/autorenew:"
    )
    job = None


def _job_view(job_id: int, title: str) -> None:
    """The job this session launched: live while it runs, then what to do next."""
    with st.container(border=True):
        st.subheader(title)
        if screen.progress(job_id).done:
            _progress_panel(job_id)
            left, mid, _ = st.columns([2, 2, 3])
            if left.button("Review in Gallery", key="gen_review", type="primary", icon=":material/photo_library:"):
                st.session_state[ui.GALLERY_JOB] = job_id
                ui.go("gallery")
            if mid.button("Set up another job", key="gen_new", icon=":material/add:"):
                st.session_state.pop(ui.CURRENT_JOB, None)
                st.rerun()
        else:
            _live(job_id)
            st.caption("You can keep working elsewhere; the job log keeps going.")


def _form() -> None:
    """The form: choose a style and settings for the selection, check the photos, launch."""
    ref = screen.source_ref(book.current)
    if not len(selection):
        ui.empty_state(
            "Nothing selected yet", "Choose the products to photograph first.", page="products", label="Choose products"
        )
        return

    pairs = selection.pairs()
    categories = sorted({p.category for p, _ in pairs if p.category})

    st.subheader("1 · What you selected")
    with st.container(border=True):
        st.markdown(f"**{selection.summary()}** from {ui.escape_md(ref.label or ref.kind)}")
        labels = [picked.label for picked in selection.items.values()]
        shown = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
        st.text(ui.plain(shown, 2000))
        ui.page_link("products", label="Change the selection", icon=":material/edit:")

    # Style ----------------------------------------------------------------------------------------------
    st.subheader("2 · Style")
    style_options = [screen.AUTO_STYLE, *screen.PRESETS]
    default_style = screen.default_style(categories)
    if len(categories) == 1:
        st.caption(f"Preselected for {ui.escape_md(categories[0])}: {screen.PRESETS[default_style].label}.")  # own text
    else:
        st.caption("Preselected: each product gets its category's usual style.")
    style = (
        st.pills(
            "Style",
            style_options,
            default=default_style,
            key="gen_style",
            format_func=screen.style_label,
            required=True,
            label_visibility="collapsed",
        )
        or default_style
    )

    preset_keys = list(screen.PRESETS)
    picked_styles = screen.styles_for(style, categories)
    with st.expander("See what each style looks like", expanded=True):
        per_row = 5
        for start in range(0, len(preset_keys), per_row):
            cols = st.columns(per_row)
            for col, key in zip(cols, preset_keys[start : start + per_row], strict=False):
                preset = screen.PRESETS[key]
                picked = key in picked_styles
                with col.container(border=True):
                    data = screen.preview(key)
                    if data:
                        st.image(data, width="stretch")
                    st.markdown((":material/check_circle: " if picked else "") + f"**{preset.label}**")  # own text
                    st.caption(preset.description)  # own text

    # Settings -------------------------------------------------------------------------------------------
    st.subheader("3 · Settings")
    providers = screen.providers()
    prov_by_name = {p.name: p for p in providers}
    c1, c2 = st.columns(2)
    with c1:
        extra = st.text_area(
            "Extra direction (optional)",
            key="gen_extra",
            max_chars=2000,
            height=100,
            placeholder="e.g. warmer light, a sage backdrop, with a plant",
        )
        st.caption(screen.STUDIO_DIRECTION)
        a1, a2, a3 = st.columns(3)
        aspect = a1.selectbox(
            "Aspect ratio",
            screen.ASPECT_RATIOS,
            key="gen_aspect",
            help="Square (1:1) suits most shop grids; 4:5 suits social feeds.",
        )
        size = a2.selectbox("Output size", screen.OUTPUT_SIZES, key="gen_size", format_func=lambda n: f"{n} px")
        variants = a3.number_input(
            "Variants per product",
            min_value=1,
            max_value=screen.MAX_VARIANTS,
            value=1,
            key="gen_variants",
            help="More variants give you more to choose from.",
        )
    with c2:
        provider = st.radio(  # own text
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
        elif choice.batch:
            big = screen.suggests_batch(provider, len(selection) * int(variants))
            batch = st.toggle(
                "Batch mode: half the price, results within hours instead of minutes",
                value=big,
                key="gen_batch",
                help="Sends the images through Google's Batch API. "
                "Worth it for large jobs; small ones are quicker online.",
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
        max_value=screen.MAX_FIDELITY_RETRIES,
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
            with (
                st.spinner(f"Checking {ui.plural(len(selection), 'photo')}…") if len(selection) > 12 else nullcontext()
            ):
                checks, unchecked = screen.check_photos(ref, selection, demo_size=ui.demo_size())
        except ui.AppError as exc:
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
            f"All {ui.plural(len(checks), 'photo')} look usable."
            if not unchecked
            else f"The first {ui.plural(len(checks), 'photo')} look usable.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(f"{ui.plural(len(problems), 'photo')} may give poor results:", icon=":material/warning:")
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
        if st.checkbox(f"Skip these {ui.plural(len(problems), 'product')}", value=True, key="gen_skip"):
            skip = {c.key for c in problems}

    if unchecked:
        st.caption(
            f"{ui.plural(unchecked, 'more photo')} will be checked as the job runs; unusable ones fail with a reason."
        )

    # Launch ---------------------------------------------------------------------------------------------
    st.subheader("5 · Launch")
    spec = screen.JobSpec(
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
    cost = screen.estimate(spec, n_items)
    m1, m2, m3 = st.columns(3)
    m1.metric("Images to make", f"{n_items * int(variants):,}")
    m2.metric(
        "Estimated cost", ui.fmt_cost(cost), help="From the price table in the settings; the studio engine is free."
    )
    m3.metric("Engine", choice.short, help=choice.label)  # own text
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
            job = screen.launch(actor=me, spec=spec, selection=selection, skip=skip)
            st.session_state[ui.CURRENT_JOB] = job.id
            st.session_state["gen_launched_with"] = picked_now
            st.session_state.pop("gen_checks", None)
            ui.flash(
                f"Job #{job.id} started: {ui.plural(job.item_count, 'image')} on the way.", ":material/rocket_launch:"
            )
            st.rerun()


# The page ends by returning, never with st.stop(): a run that stops early skips Streamlit's end-of-run cleanup, which
# kept the live panel's fragment registered after the job had finished. Its timer ticks still on their way then redrew
# the running panel into the finished view and reran the whole page once each (in chromium, with the panel slowed as
# load slows it: two "Finished" panels under "Review in Gallery"; tests/ui/test_generate.py).
if job_id is not None and job is not None:
    _job_view(job_id, screen.title(job))
else:
    _form()
