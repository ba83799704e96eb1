"""Gallery: review a job's images beside their source photos, approve, regenerate, publish and roll back."""

from typing import Any

import streamlit as st

from lib import ui
from lib.screens.gallery import GalleryScreen

screen = GalleryScreen(ui.runtime())
me = ui.actor()
ItemStatus, ReviewState = screen.ItemStatus, screen.ReviewState
ui.page_header(
    "Gallery",
    "Compare each product's photo with what was generated, keep the good ones and publish "
    "them to the store. Every change can be rolled back.",
)

PER_PAGE = 8
DIALOG = "gallery_dialog"  # (kind, args) of the open confirmation dialog; survives reruns until closed
FOLLOW = "gallery_store_job"  # (job id, store job id): the publish, rollback or export this page follows

titles, found = screen.job_choices(st.session_state.get(ui.GALLERY_JOB))
if not found:
    st.session_state.pop(ui.GALLERY_JOB, None)
if not titles:
    ui.empty_state(
        "No images yet",
        "Generate images for a few products and they will appear here for review.",
        page="products",
        label="Choose products",
    )
    st.stop()

# Rows of elements at their own width that wrap, not columns: at 820 px a column would cut buttons short or stay
# empty (tests/e2e/test_narrow.py).
top = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
job_id: int = top.selectbox("Job", list(titles), key=ui.GALLERY_JOB, format_func=lambda i: titles[i], width=420) or 0
review_filter = (
    top.segmented_control(
        "Show",
        screen.REVIEW_FILTERS,
        default="all",
        key="gallery_filter",
        format_func=screen.review_label,
    )
    or "all"
)
job = screen.job(job_id)
store_label = screen.store_label(job)

if st.session_state.get("gallery_seen_job") != job_id:  # another job starts at its first page
    st.session_state["gallery_seen_job"] = job_id
    st.session_state["gallery_page"] = 1


# Dialogs ----------------------------------------------------------------------------------------------


def _close_dialog() -> None:
    st.session_state.pop(DIALOG, None)


@st.dialog("Publish to the store", width="large", on_dismiss=_close_dialog)
def _publish_dialog(asset_ids: list[int], role: str, keep_old: bool) -> None:
    try:
        plan = screen.plan_publish(asset_ids, role, keep_old=keep_old)
    except ui.AppError as exc:
        ui.show_error(exc)
        return
    if plan.skipped:  # left out, each in a sentence (e.g. only one image can be a product's main image)
        st.warning(f"{ui.plural(len(plan.skipped), 'image')} will not be published:", icon=":material/block:")
        for sentence in plan.skipped:
            st.text(ui.plain(sentence, 400))
    if not plan:
        st.info("Nothing to change: these images are already published.")
        return
    st.write(f"These {ui.plural(len(plan), 'product')} will change in the {store_label}:")
    for change in plan:
        with st.container(border=True):
            st.text(ui.plain(change.product_name, 160))
            st.caption(ui.escape_md(change.after_description))
    st.caption("The current image lists are saved first, so each product (or the whole job) can be rolled back.")
    left, right = st.columns(2)
    if left.button("Publish now", key="gallery_publish_confirm", type="primary", icon=":material/publish:"):
        with ui.errors():
            _queued(screen.queue_publish(actor=me, job_id=job_id, asset_ids=asset_ids, role=role, keep_old=keep_old))
    if right.button("Cancel", key="gallery_publish_cancel"):
        _close_dialog()
        st.rerun()


@st.dialog("Publish to the store by SKU", width="large", on_dismiss=_close_dialog)
def _sku_dialog(role: str, keep_old: bool, connection_id: int, kind: str) -> None:
    try:
        with st.spinner("Looking up the SKUs in the store…"):
            plan = screen.plan_sku_publish(job_id=job_id, role=role, keep_old=keep_old, connection_id=connection_id)
    except ui.AppError as exc:
        ui.show_error(exc)
        return
    store = ui.escape_md(plan.store_name)
    if plan.matches:
        st.write(f"These {ui.plural(len(plan.matches), 'product')} will change in {store}:")
        for match in plan.matches:
            with st.container(border=True):
                st.text(ui.plain(match.name, 160))
                st.caption(ui.escape_md(f"SKU {match.sku} → store product #{match.store_product_id}. {match.change}"))
    if plan.already:
        st.caption(f"{ui.plural(plan.already, 'image')} already published there by this job stay as they are.")
    if plan.unmatched:
        st.warning(
            f"{ui.plural(len(plan.unmatched), 'image')} will not be published, because no store product matches:",
            icon=":material/link_off:",
        )
        for sentence in plan.unmatched:
            st.text(sentence)
    if not plan.matches:
        st.info("Nothing to change in the store.", icon=":material/info:")
        if st.button("Close", key="gallery_sku_cancel"):
            _close_dialog()
            st.rerun()
        return
    st.caption("The current image lists are saved first, so each product (or the whole job) can be rolled back.")
    left, right = st.columns(2)
    if left.button("Publish now", key="gallery_sku_confirm", type="primary", icon=":material/publish:"):
        with ui.errors():
            queued = screen.queue_sku_publish(
                actor=me, job_id=job_id, role=role, keep_old=keep_old, store_id=connection_id, store_kind=kind,
                store_name=plan.store_name,
            )  # fmt: skip
            _queued(queued)
    if right.button("Cancel", key="gallery_sku_cancel"):
        _close_dialog()
        st.rerun()


@st.dialog("Someone changed these products", width="large", on_dismiss=_close_dialog)
def _conflict_dialog(conflicts: list[tuple[str, str]], errors: list[str] | None = None) -> None:
    for sentence in errors or []:
        st.error(ui.escape_md(sentence), icon=":material/error:")
    st.write("These products were edited in the store after we published. Rolling back would undo those edits:")
    for product_id, sentence in conflicts:
        st.text(ui.plain(f"Product {product_id}: {sentence}", 400))
    left, right = st.columns(2)
    if left.button("Roll back anyway", key="gallery_force", type="primary"):
        with ui.errors():
            _queued(
                screen.queue_rollback(actor=me, job_id=job_id, product_ids=[pid for pid, _ in conflicts], force=True)
            )
    if right.button("Keep them as they are", key="gallery_force_cancel"):
        _close_dialog()
        st.rerun()


def _open_compare(
    asset_id: int,
    sha: str,
    source_sha: str | None,
    title: str,
    region: list[float] | None,
    photo_region: list[float] | None = None,
    flagged: bool = False,
) -> None:
    """Open the compare dialog on one image: whole, or (from a flagged card) zoomed on the flagged part."""
    zoom, across, down = screen.flagged_view(region) if region and flagged else (1, 0.5, 0.5)
    st.session_state["gallery_cmp_zoom"] = zoom
    st.session_state["gallery_cmp_x"] = round(100 * across)
    st.session_state["gallery_cmp_y"] = round(100 * down)
    st.session_state[DIALOG] = (
        "compare",
        {
            "asset_id": asset_id,
            "sha": sha,
            "source_sha": source_sha,
            "title": title,
            "region": region,
            "photo_region": photo_region,
        },
    )


def _zoom_flagged(region: list[float]) -> None:
    zoom, across, down = screen.flagged_view(region)
    st.session_state["gallery_cmp_zoom"] = zoom
    st.session_state["gallery_cmp_x"] = round(100 * across)
    st.session_state["gallery_cmp_y"] = round(100 * down)


@st.dialog("Before and after", width="large", on_dismiss=_close_dialog)
def _compare_dialog(
    asset_id: int,
    sha: str,
    source_sha: str | None,
    title: str,
    region: list[float] | None,
    photo_region: list[float] | None,
) -> None:
    """The product photo and the new picture side by side at full resolution, both cut at the same place."""
    st.text(ui.plain(title, 200))
    row = st.container(horizontal=True, vertical_alignment="bottom")
    zoom = int(row.segmented_control("Zoom", screen.ZOOMS, key="gallery_cmp_zoom", format_func=screen.zoom_label) or 1)
    if region is not None:
        row.button(
            "The flagged part",
            key="gallery_cmp_flagged",
            icon=":material/center_focus_strong:",
            on_click=_zoom_flagged,
            args=(region,),
            help="Zoom on the part the fidelity check flagged.",
        )
    across = down = 50
    if zoom > 1:
        for k in ("gallery_cmp_x", "gallery_cmp_y"):  # from the middle, if the sliders were not shown before
            st.session_state.setdefault(k, 50)
        sliders = st.container(horizontal=True, gap="large")
        across = sliders.slider("Left ↔ right", 0, 100, key="gallery_cmp_x", format="%d %%")
        down = sliders.slider("Top ↔ bottom", 0, 100, key="gallery_cmp_y", format="%d %%")
    with ui.errors():
        view = screen.compare(
            source_sha=source_sha,
            sha=sha,
            zoom=zoom,
            across=across / 100,
            down=down / 100,
            flagged=region,
            flagged_photo=photo_region,
        )
        ui.before_after(view.source, view.generated, labels=("Product photo", "Generated"))
        st.caption(view.note)
    if st.button("Close", key="gallery_cmp_close"):
        _close_dialog()
        st.rerun()


def _queued(queued: Any) -> None:
    """A store job was queued: say so, follow it on this page, close the dialog."""
    ui.flash(ui.escape_md(queued.sentence), ":material/schedule:")
    st.session_state[FOLLOW] = (job_id, queued.id)
    _close_dialog()
    st.rerun()


def _rollback(product_ids: list[str] | None) -> None:
    with ui.errors():
        _queued(screen.queue_rollback(actor=me, job_id=job_id, product_ids=product_ids))


@st.fragment(run_every="2s")
def _follow_store(store_job_id: int) -> None:
    """While a publish, rollback or export runs: its stage, progress and ETA, and Cancel; the page shows what it did
    once it has finished."""
    view = screen.store_job(store_job_id)
    if view.done:
        st.rerun(scope="app")
    p = view.progress
    st.progress(p.fraction, text=" · ".join(x for x in (f"{view.heading} (job #{view.id}): {p.text}", p.eta) if x))
    st.caption(ui.escape_md(p.counts))
    if st.button("Cancel", key="gallery_store_cancel", icon=":material/cancel:"):
        with ui.errors():
            screen.cancel_store_job(actor=me, store_job_id=store_job_id)
            ui.flash("Cancelled: the product being changed is finished, the next ones are left as they are.")
            st.rerun(scope="app")


def _store_outcome(store_job_id: int) -> None:
    """A followed store job: its progress while it runs; once finished, what it did (shown once)."""
    view = screen.store_job(store_job_id)
    if not view.done:
        _follow_store(store_job_id)
        return
    st.session_state.pop(FOLLOW, None)
    if view.ok:
        st.success(ui.escape_md(view.summary), icon=":material/task_alt:")
    elif view.conflicts:  # the dialog lists them, and any store error beside them
        st.warning(ui.escape_md(view.summary), icon=":material/warning:")
    else:  # what went wrong, or was left out, in the same box
        st.warning(ui.escape_md(" ".join([view.summary, *view.problems])), icon=":material/warning:")
    if view.conflicts:  # edited in the store since we published: ask before overwriting them
        st.session_state[DIALOG] = ("conflict", {"conflicts": list(view.conflicts), "errors": list(view.problems)})


@st.fragment(run_every="2s")
def _follow(job_id: int, seen: tuple) -> None:
    """While the job runs: its progress, and a page refresh whenever new images have arrived."""
    if screen.stamp(job_id) != seen:
        st.rerun(scope="app")
    view = screen.progress(job_id)
    st.progress(view.fraction, text=view.text + " · new images appear here as they are made")


# Job overview and bulk actions ------------------------------------------------------------------------
pview = screen.progress(job_id)
# Counts over the job and one page of products, read in SQL on each run (a job may hold 100,000 items).
view = screen.view(job_id, review_filter, int(st.session_state.get("gallery_page", 1)), PER_PAGE)
counts = view.counts
checks = view.checks  # asset id -> its stored fidelity check (this page's images)
flagged_ids = view.flagged
approved = view.images("approved")
publications = view.publications

with st.container(border=True):
    # After the products, every count is images: published too (it counted products, which read as a mismatch).
    m = st.container(horizontal=True, gap="medium")
    images = sum(counts.images.values())
    m.metric("Products", f"{counts.products:,}", help=f"{ui.plural(images, 'image')} made for them.", width="content")
    m.metric(
        "To review",
        f"{view.images('pending'):,}",
        help="Images nobody has approved or rejected yet.",
        width="content",
    )
    m.metric("Approved", f"{approved:,}", width="content")
    m.metric("Rejected", f"{view.images('rejected'):,}", width="content")
    m.metric(
        "Published",
        f"{publications.images:,}",
        help=f"Images of this job now in the store, on {ui.plural(publications.products, 'product')}.",
        width="content",
    )
    if not pview.done:
        _follow(job_id, screen.stamp(job_id))
    followed = st.session_state.get(FOLLOW)
    if not followed or followed[0] != job_id:  # one queued in a tab since closed, or by the CLI
        running = screen.running_store_job(job_id)
        followed = (job_id, running) if running is not None else None
        if followed:
            st.session_state[FOLLOW] = followed
    if followed:
        _store_outcome(followed[1])
    busy = screen.store_busy(job_id)  # a publish or rollback of this job still queued or running: the others wait
    actions = st.container(horizontal=True, gap="small")
    if actions.button(
        "Approve all", key="gallery_approve_all", icon=":material/done_all:", disabled=not view.images("pending")
    ):
        with ui.errors():
            # Images the fidelity check calls redrawn wait for a look of their own, as on the command line.
            redrawn_ids = screen.redrawn_ids(job_id)
            n = screen.approve_all(actor=me, job_id=job_id, skip=redrawn_ids)
            left = f" {ui.plural(len(redrawn_ids), 'redrawn image')} left for a look." if redrawn_ids else ""
            ui.flash(f"Approved {ui.plural(n, 'image')}.{left}")
            st.rerun()
    actions.download_button(
        "Download ZIP",
        data=lambda: screen.zip(job_id),
        file_name=f"imagegecko-job-{job_id}.zip",
        mime="application/zip",
        key="gallery_zip",
        disabled=not approved,
        icon=":material/download:",
        on_click="ignore",
        help="The approved images named by SKU, with an alt-text.csv.",
    )
    waiting = counts.flagged_waiting
    if actions.button(
        f"Regenerate flagged ({waiting})",
        key="gallery_regen_flagged",
        icon=":material/auto_fix_high:",
        disabled=not waiting,
        help="Makes the images the fidelity check flagged again, telling the generator what changed last time.",
    ):
        with ui.errors():
            n = screen.regenerate_flagged(actor=me, job=job)
            ui.flash(f"Making {ui.plural(n, 'flagged image')} again, with a correction.")
            st.rerun()
    if publications.products and actions.button(
        "Roll back this job", key="gallery_rollback_job", icon=":material/undo:", disabled=busy is not None, help=busy
    ):
        _rollback(None)

# Publish ------------------------------------------------------------------------------------------------


def _drive_actions() -> None:
    """A Drive job's approved images: save them back to Drive, and publish them to the store by SKU."""
    st.caption("Save them back to Google Drive. Running it again adds nothing twice.")
    where = st.radio(
        "Where",
        ["beside", "folder"],
        key="gallery_export_where",
        format_func=lambda w: {
            "beside": "A “generated” folder beside the original photos",
            "folder": "A folder I choose",
        }[w],
    )
    folder = ""
    if where == "folder":
        folder = st.text_input(
            "Drive folder (link or id)",
            key="gallery_export_folder",
            placeholder="https://drive.google.com/drive/folders/…",
            help="Open the folder in Drive and copy its address. The Drive account needs Editor access to it.",
        )
    if st.button(
        "Save to Google Drive",
        key="gallery_export",
        type="primary",
        icon=":material/add_to_drive:",
        disabled=busy is not None,
        help=busy,
    ):
        with ui.errors():
            _queued(screen.queue_export(actor=me, job_id=job_id, folder=folder if where == "folder" else None))
    store = screen.store()
    if store is None:
        st.caption("Connect a WooCommerce store to publish these images to the products with the same SKU.")
        return
    st.divider()
    st.markdown(f"**Publish to {ui.escape_md(store.name)} by SKU**")
    st.caption(
        "Each image goes to the store product whose SKU matches the Drive folder or photo name "
        "(“SKU - Name”). Images with no matching product are listed and left out."
    )
    role = st.radio("How", ["featured", "gallery"], key="gallery_sku_role", format_func=lambda r: screen.ROLE_LABELS[r])
    keep_old = True
    if role == "featured":
        keep_old = st.checkbox("Keep the old main image in the gallery", value=True, key="gallery_sku_keep")
    if st.button(
        "Publish by SKU…", key="gallery_sku_publish", icon=":material/publish:", disabled=busy is not None, help=busy
    ):
        st.session_state[DIALOG] = (
            "sku",
            {"role": role, "keep_old": keep_old, "connection_id": store.id, "kind": store.kind},
        )


if approved:
    with st.container(border=True):
        st.markdown(f"**Publish {ui.plural(approved, 'approved image')}**")
        if busy:
            st.caption(f":material/hourglass_top: {ui.escape_md(busy)}")
        if screen.from_drive(job):
            _drive_actions()
        elif not screen.can_publish(job):
            st.caption(f"Images from {store_label} cannot be published to a store; download the ZIP instead.")
        else:
            roles = ["featured", "gallery"] + (["variation"] if counts.approved_variations else [])
            role = st.radio("How", roles, key="gallery_role", format_func=lambda r: screen.ROLE_LABELS[r])
            keep_old = True
            if role == "featured":
                keep_old = st.checkbox("Keep the old main image in the gallery", value=True, key="gallery_keep")
            if st.button(
                f"Publish to the {store_label}…",
                key="gallery_publish",
                type="primary",
                icon=":material/publish:",
                disabled=busy is not None,
                help=busy,
            ):
                st.session_state[DIALOG] = (
                    "publish",
                    {"asset_ids": screen.approved_ids(job_id), "role": role, "keep_old": keep_old},
                )

dialog = st.session_state.get(DIALOG)
if dialog:
    kind, args = dialog
    if kind == "publish":
        _publish_dialog(**args)
    elif kind == "conflict":
        _conflict_dialog(**args)
    elif kind == "sku":
        _sku_dialog(**args)
    elif kind == "compare":
        _compare_dialog(**args)

# Per product ---------------------------------------------------------------------------------------------
page_items, page_no, pages = view.entries, view.page, view.pages
if not page_items:
    if counts.products:
        st.info("No images in this state. Pick “All” to see everything.", icon=":material/filter_alt:")
    else:
        st.info("This job has no results yet; they appear here as they are made.", icon=":material/hourglass_top:")
    st.stop()


def _set_review(asset_id: int, state: str) -> None:
    if (
        state == ReviewState.APPROVED
        and asset_id in flagged_ids
        and not st.session_state.get(f"gallery_sure_{asset_id}")
    ):
        st.session_state[f"gallery_sure_{asset_id}"] = True  # asks once: the next click approves
        return
    try:
        screen.set_review(actor=me, asset_id=asset_id, state=state)
    except ui.AppError as exc:
        ui.flash(exc.message, ":material/error:")


# Who approved and who published each image on this page (from the audit trail).
people = screen.people([a.id for e in page_items for a in e.assets if a.id is not None])


def _fidelity(asset: Any, source_sha: str | None, title: str) -> None:
    """The verdict, the findings in words, and the way to zoom on the flagged part."""
    found = checks.get(asset.id)
    if found is None:
        st.caption("Fidelity: not checked yet.")
        return
    badge = screen.VERDICT_BADGES[found.verdict]
    st.badge(badge.label, color=badge.colour, icon=badge.icon)  # type: ignore[arg-type]
    if not found.flagged:
        return
    for f in found.findings:  # words read from images by OCR: never markdown
        st.caption(ui.escape_md(f.message))
    for note in found.notes:
        st.caption(ui.escape_md(note))
    region = screen.zoom_region(found)
    if region is not None:
        photo = screen.photo_region(found)
        st.button(
            "Zoom on it",
            key=f"gallery_zoom_{asset.id}",
            icon=":material/zoom_in:",
            on_click=_open_compare,
            args=(asset.id, asset.sha256, source_sha, title, list(region), list(photo) if photo else None, True),
            help="The flagged part beside the product photo, at full resolution.",
        )
    if st.session_state.get(f"gallery_sure_{asset.id}"):
        st.warning("This image may not show your product as it is. Click Approve again to approve it anyway.")


def _save_alt(asset_id: int) -> None:
    text = st.session_state.get(f"gallery_alt_{asset_id}", "")
    try:
        screen.set_alt_text(actor=me, asset_id=asset_id, text=text)
    except ui.AppError as exc:
        ui.flash(exc.message, ":material/error:")


_thumb = screen.thumbnail


def _result_card(item: Any, asset: Any, source_sha: str | None, title: str) -> None:
    if asset is None:
        ui.status_badge(item.status)
        if item.status == ItemStatus.FAILED:
            st.caption(ui.escape_md(item.error_message or "Failed."))
        else:
            st.caption("Not made yet.")
    else:
        ui.image(_thumb(asset.sha256))
        ui.status_badge(asset.review_state)
        by = people.get(asset.id)
        if by is not None and (by.approved_by or by.published_by):
            said = [f"approved by {by.approved_by}"] if by.approved_by else []
            said += [f"published by {by.published_by}"] if by.published_by else []
            st.caption(ui.escape_md("; ".join(said).capitalize()))
        _fidelity(asset, source_sha, title)
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Approve",
                key=f"gallery_ok_{asset.id}",
                icon=":material/thumb_up:",
                on_click=_set_review,
                args=(asset.id, ReviewState.APPROVED),
                disabled=asset.review_state == ReviewState.APPROVED,
            )
            st.button(
                "Reject",
                key=f"gallery_no_{asset.id}",
                icon=":material/thumb_down:",
                on_click=_set_review,
                args=(asset.id, ReviewState.REJECTED),
                disabled=asset.review_state == ReviewState.REJECTED,
            )
        pending = (
            "Gemini could not write this one yet (busy or over quota); it will, and until then this "
            "template stands in. What you type here is kept."
            if asset.alt_tries_left
            else None
        )
        st.text_input(
            "Alt text",
            value=asset.alt_text,
            key=f"gallery_alt_{asset.id}",
            max_chars=250,
            on_change=_save_alt,
            args=(asset.id,),
            help=pending,
        )
    with st.container(horizontal=True, gap="small"):
        if asset is not None:
            found = checks.get(asset.id)
            region = screen.zoom_region(found) if found is not None and found.flagged else None
            photo = screen.photo_region(found) if region is not None and found is not None else None
            st.button(
                "Compare",
                key=f"gallery_cmp_{asset.id}",
                icon=":material/compare:",
                on_click=_open_compare,
                args=(
                    asset.id,
                    asset.sha256,
                    source_sha,
                    title,
                    list(region) if region else None,
                    list(photo) if photo else None,
                ),  # fmt: skip
                help="This image beside the product photo at full resolution, with zoom.",
            )
        if item.status in (ItemStatus.SUCCEEDED, ItemStatus.FAILED):
            with st.popover("Regenerate", icon=":material/refresh:"):
                st.caption("Makes one new image for this product, as a new item in this job.")
                if job.provider == "studio":
                    st.caption(screen.STUDIO_DIRECTION)
                extra = st.text_area(
                    "Extra direction", value=job.prompt_extra, key=f"gallery_rp_{item.id}", max_chars=2000
                )
                if st.button("Regenerate", key=f"gallery_regen_{item.id}", type="primary"):
                    with ui.errors():
                        screen.regenerate(actor=me, item_id=item.id, prompt_extra=extra)
                        ui.flash("A new image is on its way; it appears here when it is ready.")
                        st.rerun()


# The original and each variant are cards of one width in a row that wraps: every image on the page has the same
# size, and no column is kept empty for a variant a product does not have (at 820 px: two cards a row).
CARD_WIDTH = 200
for entry in page_items:
    product = entry.product
    with st.container(border=True):
        name, meta = ui.product_caption(product)
        st.markdown(f"#### {ui.escape_md(name)}")
        variation = ""
        if entry.variation_id:
            variation = next(
                (
                    str(v.get("name") or v.get("id"))
                    for v in product.get("variations", ())
                    if str(v.get("id")) == str(entry.variation_id)
                ),
                str(entry.variation_id),
            )
        st.caption(ui.escape_md(" · ".join(x for x in (meta, variation) if x)))
        pubs = publications.of(entry.product_id, [a.id for a in entry.assets])
        if pubs:
            with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                st.badge(
                    f"Published ({', '.join(sorted({p.role for p in pubs}))})",
                    color="green",
                    icon=":material/storefront:",
                )
                if st.button(
                    "Roll back this product",
                    key=f"gallery_rb_{entry.product_id}_{entry.variation_id}",
                    icon=":material/undo:",
                    disabled=busy is not None,
                    help=busy,
                ):
                    _rollback(sorted({p.product_id for p in pubs}))
        assets_by_item = {a.item_id: a for a in entry.assets if a.kind == "generated"}
        items = [
            it
            for it in entry.items
            if it.status != ItemStatus.CANCELLED and (review_filter == "all" or it.id in assets_by_item)
        ]
        with st.container(horizontal=True, gap="small"):
            with st.container(width=CARD_WIDTH):
                st.caption("Original")
                ui.image(_thumb(entry.source_sha))
            for item in items:
                with st.container(border=True, width=CARD_WIDTH):
                    heading = f"Variant {item.variant_index + 1}" + (" (redo)" if item.parent_item_id else "")
                    st.caption(heading)
                    title = " · ".join(x for x in (name, variation, heading) if x)
                    _result_card(item, assets_by_item.get(item.id), entry.source_sha, title)


def _go(delta: int) -> None:
    st.session_state["gallery_page"] = page_no + delta


nav = st.container(horizontal=True, vertical_alignment="center", gap="medium")
nav.button(
    "Previous", key="gallery_prev", on_click=_go, args=(-1,), disabled=page_no <= 1, icon=":material/chevron_left:"
)
nav.markdown(
    f"Products {(page_no - 1) * PER_PAGE + 1}–{min(page_no * PER_PAGE, view.shown)} of {view.shown:,}"
    f" · page **{page_no}** of **{pages}**",
    width="content",
)
nav.button(
    "Next",
    key="gallery_next",
    on_click=_go,
    args=(1,),
    disabled=page_no >= pages,
    icon=":material/chevron_right:",
    icon_position="right",
)
