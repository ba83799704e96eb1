"""Products: pick a source, filter, and select the products (and variations) to generate images for."""

from contextlib import nullcontext
from typing import Any

import streamlit as st

from lib import ui
from lib.screens.products import ProductsScreen

screen = ProductsScreen(ui.runtime())
ui.page_header(
    "Choose products", "Pick the products to photograph. Your selection is kept while you page, search and filter."
)

if screen.first_run():
    st.info(
        "First time here? The demo store below works with no keys: tick a few products, then Go to Generate. "
        "Connect your own store on the Connect page when you are ready.",
        icon=":material/waving_hand:",
    )

book = ui.selections()
options = screen.sources()
by_key = {ref.key: ref for ref in options}
if book.current not in by_key:
    book.current = screen.DEFAULT_SOURCE


def _on_source_change() -> None:
    book.switch(st.session_state["prod_source"])
    st.session_state["prod_page"] = 1


top = st.columns([2, 3], vertical_alignment="bottom")
source_key = top[0].selectbox(
    "Source",
    list(by_key),
    index=list(by_key).index(book.current),
    key="prod_source",
    format_func=lambda k: ui.label(by_key[k].label).text,
    on_change=_on_source_change,
    help="Where the product photos come from. Add stores and Drive folders on the Connect page.",
)
ref = by_key[source_key]
book.switch(ref.key)
selection = book.active

try:
    screen.open(ref, demo_size=ui.demo_size())
except ui.AppError as exc:
    ui.show_error(exc)
    st.stop()

# Uploads: drop photos, each becomes a product ------------------------------------------------------
if screen.is_upload:
    gen = st.session_state.setdefault("prod_upload_gen", 0)
    with st.container(border=True):
        st.markdown("**Add photos from your computer**")
        st.caption("Each photo becomes a product you can name. JPEG, PNG or WebP on a white background work best.")
        files = st.file_uploader(
            "Product photos",
            type=["jpg", "jpeg", "png", "webp"],
            accept_multiple_files=True,
            key=f"prod_upload_{gen}",
            label_visibility="collapsed",
            # The app's own limit per photo, so the uploader refuses what the app would refuse, not less.
            max_upload_size=screen.max_upload_mb,
        )
        # The last batch's outcome, shown together after the uploader was emptied for the next one.
        for line in st.session_state.pop("prod_upload_notes", []):
            st.info(line, icon=":material/info:")
        for line in st.session_state.pop("prod_upload_refused", []):
            st.warning(line, icon=":material/warning:")
        if files and st.button(f"Add {ui.plural(len(files), 'photo')}", key="prod_upload_add", type="primary"):
            with ui.errors():
                added = screen.add_uploads(files=[(f.name, f.getvalue()) for f in files])
                st.session_state["prod_upload_refused"] = [
                    f"{ui.escape_md(r.filename)}: {r.message}" for r in added.refused
                ]
                st.session_state["prod_upload_notes"] = list(added.notes)
                st.session_state["prod_upload_gen"] = gen + 1
                if added:
                    ui.flash(f"Added {ui.plural(len(added), 'product')}. Name them below, then select them.")
                st.rerun()

# Filters ------------------------------------------------------------------------------------------
cats = screen.categories()
f1, f2, f3 = st.columns([3, 2, 2])
search = f1.text_input("Search", key="prod_search", placeholder="Name or SKU", icon=":material/search:")
category = f2.selectbox("Category", [""] + cats, key="prod_category", format_func=lambda c: c or "All categories")
stock = f3.selectbox("Stock", list(screen.STOCK_LABELS), key="prod_stock", format_func=lambda s: screen.STOCK_LABELS[s])
product_type = status = ""
if types := screen.product_types():  # Shopify: product type and status too
    p1, p2 = st.columns(2)
    product_type = p1.selectbox(
        "Product type", [""] + types, key="prod_type", format_func=lambda t: t or "All product types"
    )
    status = p2.selectbox(
        "Status", screen.statuses(), key="prod_status", format_func=lambda s: s.capitalize() or "Any status"
    )
t1, t2, t3 = st.columns([2, 2, 3], vertical_alignment="center")
white_only = t1.toggle(
    "White background only",
    key="prod_white",
    help="Only products whose main photo is on a clean white background (checked on the photo).",
)
not_generated = t2.toggle(
    "No generated image yet",
    key="prod_new",
    help="Hide products that already have AI images (not counting rejected ones).",
)
view = (
    t3.segmented_control("View", ["Grid", "List"], default="Grid", key="prod_view", label_visibility="collapsed")
    or "Grid"
)
filters = screen.filters(
    search, category or "", stock or "", white_only, not_generated, product_type or "", status or ""
)

if st.session_state.get("prod_filters") != filters:  # new filters start at page 1
    st.session_state["prod_filters"] = filters
    st.session_state["prod_page"] = 1
per_page = int(st.session_state.get("prod_per_page", 24))
page_no = int(st.session_state.get("prod_page", 1))

try:
    with st.spinner("Looking through the catalogue…") if filters.local else nullcontext():
        result = screen.browse(filters, page=page_no, per_page=per_page)
except ui.AppError as exc:
    if screen.is_local:
        ui.show_error(exc)
    else:  # a connected store or folder that does not answer: say which, and where to fix it
        name = ui.escape_md(ref.label or "The store")
        st.error(f"{name} could not be reached. {ui.escape_md(exc.message)}", icon=":material/cloud_off:")
        ui.page_link("connect", label=f"Check {name} on the Connect page", icon=":material/link:")
    st.stop()

# Selection bar ----------------------------------------------------------------------------------


_pick_key = screen.pick_key


def _on_pick(product: Any, variation_id: str | None) -> None:
    selection.set(product, variation_id, bool(st.session_state[_pick_key(product.id, variation_id)]))


def _select_page(on: bool) -> None:
    if on:
        selection.add_all(result.products)
    else:
        selection.remove_all(result.products)
    for p in result.products:
        st.session_state[_pick_key(p.id)] = on
        for v in p.variations:
            st.session_state[_pick_key(p.id, v.id)] = on and selection.has(p.id, v.id)


def _clear() -> None:
    selection.clear()
    for key in [k for k in st.session_state if str(k).startswith(f"prod_pick_{ref.key}_")]:
        st.session_state[key] = False


with st.container(border=True):
    bar = st.columns([3, 2, 2, 2], vertical_alignment="center")
    bar[0].markdown(f"**{selection.summary()}**" + (f"  \n{result.summary} in this view" if result.total else ""))
    bar[1].button(
        "Select this page",
        key="prod_select_page",
        on_click=_select_page,
        args=(True,),
        disabled=not result.products,
        icon=":material/select_all:",
    )
    bar[2].button(
        "Clear selection", key="prod_clear", on_click=_clear, disabled=not len(selection), icon=":material/deselect:"
    )
    if bar[3].button(
        "Go to Generate", key="prod_go", type="primary", disabled=not len(selection), icon=":material/arrow_forward:"
    ):
        ui.go("generate")

# Results ------------------------------------------------------------------------------------------
if not result.products:
    if screen.is_upload and not filters.search and not filters.category:
        ui.empty_state("No uploads yet", "Drop a few product photos in the box above; each one becomes a product.")
    elif filters != screen.filters():
        ui.empty_state("No products match", "Try a shorter search, another category, or switch a filter off.")
    else:
        ui.empty_state(
            "This source has no products",
            "Pick another source, or check the connection.",
            page="connect",
            label="Open Connect",
        )
    st.stop()


screen.prefetch_thumbnails(result.products)


def _thumb(product: Any) -> None:
    thumbnail = screen.thumbnail(product)
    if thumbnail is None:
        st.caption("No photo")
    else:
        st.image(thumbnail, width="stretch")


def _variations(product: Any) -> None:
    if not product.variations:
        return
    picked = sum(selection.has(product.id, v.id) for v in product.variations)
    label = ui.plural(len(product.variations), "variation") + (f" · {picked} selected" if picked else "")
    with st.expander(label, expanded=picked > 0):
        for v in product.variations:
            key = _pick_key(product.id, v.id)
            st.session_state.setdefault(key, selection.has(product.id, v.id))
            attrs = ", ".join(f"{k}: {val}" for k, val in v.attributes.items())
            shown = ui.label(v.name or attrs or v.id)
            tip = "  \n".join(x for x in (shown.help, f"SKU {ui.escape_md(v.sku)}" if v.sku else None) if x)
            st.checkbox(shown.text, key=key, on_change=_on_pick, args=(product, v.id), help=tip or None)


def _rename(product: Any) -> None:
    with st.popover("Rename", icon=":material/edit:"):
        name = st.text_input("Name", value=product.name, key=f"prod_rn_name_{product.id}")
        sku = st.text_input("SKU", value=product.sku, key=f"prod_rn_sku_{product.id}")
        if st.button("Save", key=f"prod_rn_save_{product.id}", type="primary"):
            with ui.errors():
                screen.rename_upload(product_id=product.id, name=name, sku=sku)
                selection.remove(product.id)
                ui.flash(f"Saved “{name.strip()}”.")
                st.rerun()


if view == "Grid":
    ncols = 4
    for start in range(0, len(result.products), ncols):
        cols = st.columns(ncols)
        for col, product in zip(cols, result.products[start : start + ncols], strict=False):
            with col.container(border=True):
                _thumb(product)
                st.text(ui.plain(product.name, 160))
                st.caption(ui.escape_md(screen.meta(product)))
                n_gen = result.generated.get(product.id, 0)
                row = st.columns([3, 2], vertical_alignment="center")
                key = _pick_key(product.id)
                st.session_state.setdefault(key, selection.has(product.id))
                row[0].checkbox("Select", key=key, on_change=_on_pick, args=(product, None))
                if n_gen:
                    row[1].badge(f"{n_gen} generated", color="green")
                _variations(product)
                if screen.is_upload:
                    _rename(product)
else:
    head = st.columns([0.5, 1, 4, 2, 2, 2, 1.5])
    for c, label in zip(head, ["", "", "Name", "SKU", "Category", "Stock", "Generated"], strict=True):
        c.caption(label)
    for product in result.products:
        row = st.columns([0.5, 1, 4, 2, 2, 2, 1.5], vertical_alignment="center")
        key = _pick_key(product.id)
        st.session_state.setdefault(key, selection.has(product.id))
        row[0].checkbox("Select", key=key, on_change=_on_pick, args=(product, None), label_visibility="collapsed")
        with row[1]:
            _thumb(product)
        with row[2]:
            st.text(ui.plain(product.name, 160))
            _variations(product)
        row[3].text(ui.plain(product.sku, 60) or "—")
        row[4].text(ui.plain(product.category, 60) or "—")
        row[5].text(screen.stock_label(product.stock_status))
        row[6].text(str(result.generated.get(product.id, 0)))

# Paging -------------------------------------------------------------------------------------------


def _go(delta: int) -> None:
    st.session_state["prod_page"] = max(1, page_no + delta)


nav = st.columns([1, 2, 1, 2], vertical_alignment="center")
nav[0].button(
    "Previous", key="prod_prev", on_click=_go, args=(-1,), disabled=page_no <= 1, icon=":material/chevron_left:"
)
nav[1].markdown(f"Page **{result.page}** of **{result.pages}**" + ("" if result.exact else "+"))
nav[2].button(
    "Next",
    key="prod_next",
    on_click=_go,
    args=(1,),
    disabled=not result.has_next,
    icon=":material/chevron_right:",
    icon_position="right",
)
nav[3].selectbox(
    "Per page",
    [12, 24, 48, 96],
    index=1,
    key="prod_per_page",
    label_visibility="collapsed",
    format_func=lambda n: f"{n} per page",
)
if not result.exact:
    st.caption(
        f"Looked at {result.scanned:,} of {result.source_total:,} products for these filters. "
        "Use search or a category to narrow it down."
    )
