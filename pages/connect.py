"""Connect: the demo store (always there), WooCommerce stores, Google Drive and the AI provider."""

from typing import Any

import streamlit as st

from lib import catalog, ui, views
from lib.connections import activate, delete_connection, list_connections, mark_verified, read_secret, save_connection
from lib.errors import AppError
from lib.models import Connection
from lib.sources.base import ProductQuery
from lib.vault import mask
from lib.views import fmt_when, plural

rt = ui.runtime()
ui.page_header("Connect", "Where your products come from, where approved images go, and which AI makes them.")

stores = list_connections(rt.db, "woocommerce")
drives = list_connections(rt.db, "drive")
keys = list_connections(rt.db, "gemini")
has_env_key = rt.settings.gemini_api_key is not None

# First-run guide ----------------------------------------------------------------------------------------
with st.expander("How to get started", expanded=not (stores or drives or keys), icon=":material/map:"):
    steps = [
        (
            True,
            "Try it on the demo store",
            "It works right now, with no keys: choose a few demo products, generate "
            "with the studio engine, approve, publish, and roll back.",
        ),
        (
            bool(stores),
            "Connect your WooCommerce store",
            "A REST API key (WooCommerce › Settings › Advanced › REST "
            "API, read/write) and a WordPress application password for "
            "uploading images.",
        ),
        (
            bool(drives),
            "Optional: a Google Drive folder",
            "For product photos that live in Drive rather than in a store.",
        ),
        (
            bool(keys) or has_env_key,
            "Optional: a Gemini API key",
            "For photo-real results. Without it, the offline studio engine makes the images, free.",
        ),
    ]
    for i, (done, title, text) in enumerate(steps, start=1):
        st.markdown(
            f"{':material/check_circle:' if done else ':material/radio_button_unchecked:'} **{i}. {title}** — {text}"
        )
    ui.page_link("products", label="Choose products", icon=":material/arrow_forward:")


def _status_line(conn: Connection) -> None:
    """Status badge, last check and its result."""
    row = st.columns([1, 3], vertical_alignment="center")
    with row[0]:
        if conn.verified_at is None:
            st.badge("not tested", color="gray")
        elif conn.last_error:
            st.badge("problem", color="red", icon=":material/error:")
        else:
            st.badge("working", color="green", icon=":material/check:")
    row[1].caption(f"Last check: {fmt_when(conn.verified_at)}" + (" · active" if conn.is_active else ""))
    if conn.last_error:
        st.caption(ui.escape_md(conn.last_error))


def _optional(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        return None


def _checklist(report: Any) -> None:
    """Show a connection check: each step with ✓/✗ and, where it failed, what to do."""
    checks = getattr(report, "checks", report)
    if isinstance(checks, str):
        st.success(checks, icon=":material/check_circle:")
        return
    for check in checks or ():
        ok = bool(getattr(check, "ok", False))
        label = getattr(check, "label", None) or getattr(check, "name", "")
        detail = getattr(check, "message", "") or ""
        fix = getattr(check, "fix", "") or ""
        skipped = bool(getattr(check, "skipped", False))
        icon = (
            ":material/check_circle:"
            if ok
            else (":material/remove_circle_outline:" if skipped else ":material/cancel:")
        )
        st.markdown(f"{icon} **{ui.escape_md(str(label))}**" + (f" — {ui.escape_md(detail)}" if detail else ""))
        if fix and not ok and not skipped:
            st.caption(ui.escape_md(f"Fix: {fix}"))


# Demo store ------------------------------------------------------------------------------------------------
st.subheader("Stores")
cards = st.columns(2)
with cards[0].container(border=True):
    st.markdown("#### :material/storefront: Demo store")
    st.badge("ready", color="green", icon=":material/check:")
    st.caption(
        "Built in. 16 sample products whose photos are studio-lit renders drawn by code, not photographs "
        "(among them a mug with an open handle, a glass bottle and a white jug, which test the cut-out). "
        "Publishing and rollback work offline, so you can show the whole flow without a store."
    )
    if st.button("Test connection", key="connect_demo_test", icon=":material/network_check:"):
        with ui.errors():
            page = catalog.open_source(rt, catalog.DEMO).list_products(ProductQuery(per_page=1))
            st.success(f"The demo store answers: {plural(page.total, 'product')}.", icon=":material/check_circle:")

# WooCommerce -----------------------------------------------------------------------------------------------
woo = _optional("lib.sources.woocommerce")
with cards[1].container(border=True):
    st.markdown("#### :material/shopping_cart: WooCommerce")
    if not stores:
        st.caption("No store connected yet. Add one below.")
    for conn in stores:
        with st.container(border=True):
            st.markdown(f"**{ui.escape_md(conn.name)}**" + ("  (active)" if conn.is_active else ""))
            st.text(conn.base_url or "")
            try:
                secret = read_secret(rt.vault, conn)
                st.caption(
                    f"Key {mask(str(secret.get('consumer_key', '')))} · WordPress user "
                    f"{ui.escape_md(str(conn.settings.get('wp_user') or secret.get('wp_user') or '—'))}"
                )
            except AppError as exc:
                st.caption(exc.message)
            _status_line(conn)
            with st.container(horizontal=True, gap="small"):
                test = st.button(
                    "Test connection",
                    key=f"connect_woo_test_{conn.id}",
                    icon=":material/network_check:",
                    disabled=woo is None,
                )
                if not conn.is_active and st.button("Make active", key=f"connect_woo_activate_{conn.id}"):
                    activate(rt.db, conn.id)
                    st.rerun()
                if st.button("Remove", key=f"connect_woo_remove_{conn.id}", icon=":material/delete:"):
                    delete_connection(rt.db, conn.id)
                    ui.flash(f"Removed {conn.name}. Jobs and published images stay as they are.")
                    st.rerun()
            if test:
                with ui.errors(), st.spinner("Checking the store…"):
                    _checklist(woo.test_connection(rt, conn))

    with st.expander("Add a store", expanded=not stores, icon=":material/add:"):
        if woo is None:
            st.info("WooCommerce support is not available in this installation.", icon=":material/info:")
        else:
            st.caption(
                "Create the REST API key in WooCommerce › Settings › Advanced › REST API (Read/Write). The "
                "application password comes from Users › Profile › Application Passwords in WordPress; it "
                "lets us upload images to your media library."
            )
            name = st.text_input("Name", key="connect_woo_name", placeholder="My shop")
            url = st.text_input("Store URL", key="connect_woo_url", placeholder="https://shop.example.com")
            k1, k2 = st.columns(2)
            ck = k1.text_input("Consumer key", key="connect_woo_ck", type="password", placeholder="ck_…")
            cs = k2.text_input("Consumer secret", key="connect_woo_cs", type="password", placeholder="cs_…")
            w1, w2 = st.columns(2)
            wp_user = w1.text_input("WordPress user", key="connect_woo_user")
            app_pw = w2.text_input("Application password", key="connect_woo_app", type="password")
            form = dict(base_url=url, consumer_key=ck, consumer_secret=cs, wp_user=wp_user, app_password=app_pw)
            a, b2 = st.columns(2)
            if a.button("Test connection", key="connect_woo_check", icon=":material/network_check:"):
                with ui.errors(), st.spinner("Checking the store…"):
                    _checklist(woo.check_connection(rt, **form))
            if b2.button("Save", key="connect_woo_save", type="primary", icon=":material/save:"):
                with ui.errors():
                    conn = woo.save_woocommerce(rt, name=name, **form)
                    for k in ("connect_woo_ck", "connect_woo_cs", "connect_woo_app"):
                        st.session_state.pop(k, None)  # secrets are never shown again
                    ui.flash(f"Saved {conn.name}. It is now the active store.")
                    st.rerun()

# Google Drive ------------------------------------------------------------------------------------------------
st.subheader("Photos in Google Drive")
drive = _optional("lib.sources.drive")


def _folder_picker(conn: Connection) -> None:
    """Browse the folders this Drive account can see and pick the one that holds the photos.

    Only runs while its toggle is on: every step is a request to Drive."""
    at_key = f"connect_drive_at_{conn.id}"
    here = st.session_state.setdefault(at_key, conn.settings.get("root_folder_id") or drive.SHARED_WITH_ME)

    def go(folder_id: str) -> None:
        st.session_state[at_key] = folder_id

    with st.container(border=True), ui.errors():
        trail = [] if here == drive.SHARED_WITH_ME else drive.breadcrumbs(rt, conn, here)
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Shared with me",
                key=f"connect_drive_top_{conn.id}",
                type="tertiary",
                on_click=go,
                args=(drive.SHARED_WITH_ME,),
                icon=":material/folder_shared:",
            )
            for i, folder in enumerate(trail):
                st.button(
                    f"› {folder.name}",
                    key=f"connect_drive_crumb_{conn.id}_{i}",
                    type="tertiary",
                    on_click=go,
                    args=(folder.id,),
                )
        folders = drive.list_folders(rt, conn, here)
        if not folders:
            st.caption(
                "No folders inside."
                if here != drive.SHARED_WITH_ME
                else "Nothing is shared with this account yet. Share your photo folder with "
                f"{conn.settings.get('account') or 'the service account'} in Drive, then look again."
            )
        for folder in folders[:60]:
            st.button(
                folder.name,
                key=f"connect_drive_go_{conn.id}_{folder.id}",
                icon=":material/folder:",
                on_click=go,
                args=(folder.id,),
                type="tertiary",
            )
        if len(folders) > 60:
            st.caption(
                f"…and {len(folders) - 60} more. Paste a folder link in “Add a Drive folder” to go straight to it."
            )
        if here != drive.SHARED_WITH_ME and st.button(
            f"Use “{trail[-1].name if trail else here}” for product photos",
            key=f"connect_drive_use_{conn.id}",
            type="primary",
            icon=":material/check:",
        ):
            secret = read_secret(rt.vault, conn)
            drive.save_drive(
                rt,
                credentials_json=secret["credentials_json"],
                root_folder_id=here,
                mode=conn.settings.get("mode") or "folders",
                name=conn.name,
                shared_drive_id=trail[-1].drive_id if trail else None,
                connection_id=conn.id,
            )
            st.session_state.pop(f"connect_drive_browse_{conn.id}", None)
            ui.flash(f"Product photos now come from “{trail[-1].name if trail else here}”.")
            st.rerun()


with st.container(border=True):
    st.markdown("#### :material/add_to_drive: Google Drive")
    st.markdown(
        "Two ways to let ImageGecko into your Drive:\n"
        "- **A service account** (Google Cloud console › IAM › Service accounts › Keys › JSON). It sees "
        "nothing until you **share your photo folder with the service account's e-mail address** (Viewer "
        "is enough to read; Editor to export images back). A service account has no storage quota: it "
        "cannot create files in a personal My Drive, so to export images into Drive use a folder in a "
        "**shared drive**, or connect with user credentials instead.\n"
        "- **User credentials** (an authorized-user JSON with a refresh token, e.g. the file "
        "`gcloud auth application-default login` saves). It sees what you see, My Drive included, and "
        "exports land in your own Drive."
    )
    for conn in drives:
        with st.container(border=True):
            st.markdown(f"**{ui.escape_md(conn.name)}**" + ("  (active)" if conn.is_active else ""))
            account = conn.settings.get("account")
            per = "one product per folder" if conn.settings.get("mode") == "folders" else "one product per photo"
            where = f"Folder {conn.settings.get('root_folder_id', 'root')} · {per}"
            who = (
                f" · shared with {account}"
                if account
                else " · user credentials"
                if conn.settings.get("auth") == "authorized_user"
                else ""
            )
            st.caption(ui.escape_md(where + who))
            _status_line(conn)
            with st.container(horizontal=True, gap="small"):
                test = st.button(
                    "Test connection",
                    key=f"connect_drive_test_{conn.id}",
                    icon=":material/network_check:",
                    disabled=drive is None,
                )
                if not conn.is_active and st.button("Make active", key=f"connect_drive_activate_{conn.id}"):
                    activate(rt.db, conn.id)
                    st.rerun()
                if st.button("Remove", key=f"connect_drive_remove_{conn.id}", icon=":material/delete:"):
                    delete_connection(rt.db, conn.id)
                    st.rerun()
            if test:
                with ui.errors(), st.spinner("Listing the folder…"):
                    st.success(drive.test_connection(rt, conn), icon=":material/check_circle:")
            if drive is not None and st.toggle("Choose another folder", key=f"connect_drive_browse_{conn.id}"):
                _folder_picker(conn)
    with st.expander("Add a Drive folder", expanded=False, icon=":material/add:"):
        if drive is None:
            st.info("Google Drive support is not available in this installation.", icon=":material/info:")
        else:
            key_file = st.file_uploader(
                "Credentials JSON: service-account key or authorized-user file",
                type=["json"],
                key="connect_drive_key",
                help="Saved encrypted; never shown again.",
            )
            if key_file is not None:
                from lib.sources.drive_connect import credentials_hint

                with ui.errors():
                    st.caption(ui.escape_md(credentials_hint(key_file.getvalue().decode("utf-8", "replace"))))
            folder = st.text_input(
                "Folder (link or id)",
                key="connect_drive_folder",
                placeholder="https://drive.google.com/drive/folders/…",
                help="Leave empty to start at My Drive (user credentials only).",
            )
            mode = st.radio(
                "How photos become products",
                list(drive.MODES),
                key="connect_drive_mode",
                format_func=lambda m: {
                    "folders": "One product per folder (all its photos)",
                    "images": "One product per photo",
                }.get(m, m),
                horizontal=True,
            )
            dname = st.text_input("Name (optional)", key="connect_drive_name")
            if st.button(
                "Save and test",
                key="connect_drive_save",
                type="primary",
                icon=":material/save:",
                disabled=key_file is None,
            ):
                with ui.errors():
                    conn = drive.save_drive(
                        rt,
                        credentials_json=key_file.getvalue().decode("utf-8", "replace"),
                        root_folder_id=folder,
                        mode=mode,
                        name=dname or None,
                    )
                    try:
                        ui.flash(drive.test_connection(rt, conn))
                    except AppError as exc:
                        ui.flash(f"Saved, but the test failed: {exc.message}", ":material/warning:")
                    st.rerun()

# AI provider ----------------------------------------------------------------------------------------------
st.subheader("AI provider")
ai = st.columns(2)
with ai[0].container(border=True):
    st.markdown("#### :material/photo_camera: Studio engine")
    st.badge("always available", color="green", icon=":material/check:")
    st.caption(
        views.provider_choices(rt)[0].note + " It places your product photo in the chosen scene with light "
        "and shadow; it does not invent new details."
    )
    if st.button("Test engine", key="connect_studio_test", icon=":material/network_check:"):
        with ui.errors():
            try:
                from lib.generation.studio import preset_preview
            except ImportError:
                st.warning("The studio engine is not available in this installation.", icon=":material/warning:")
            else:
                preset_preview("marble_counter", 128)
                st.success("The studio engine works on this machine.", icon=":material/check_circle:")

gemini = _optional("lib.generation.gemini")


def _test_key(api_key: str) -> None:
    gemini.test_key(rt.settings, api_key, base_url=rt.settings.gemini_base_url, db=rt.db)


with ai[1].container(border=True):
    st.markdown("#### :material/auto_awesome: Google Gemini")
    if gemini is None:
        st.info("Gemini support is not available in this installation.", icon=":material/info:")
    else:
        if has_env_key and not keys:
            st.caption(f"A key is set in the app's settings ({mask(rt.settings.gemini_api_key.get_secret_value())}).")
        for conn in keys:
            try:
                saved_key = str(read_secret(rt.vault, conn).get("api_key", ""))
            except AppError as exc:
                saved_key = ""
                st.caption(exc.message)
            st.markdown(f"**{ui.escape_md(conn.name)}** · key {mask(saved_key)}")
            _status_line(conn)
            b = st.columns(2)
            if b[0].button("Test key", key=f"connect_gemini_test_{conn.id}", icon=":material/network_check:"):
                with ui.errors():
                    try:
                        _test_key(saved_key)
                    except AppError as exc:
                        mark_verified(rt.db, conn.id, exc.message)
                        raise
                    mark_verified(rt.db, conn.id, None)
                    st.success("Google accepted the key.", icon=":material/check_circle:")
            if b[1].button("Remove", key=f"connect_gemini_remove_{conn.id}", icon=":material/delete:"):
                delete_connection(rt.db, conn.id)
                rt.forget_provider("gemini")
                st.rerun()
        st.caption(
            "Get a key at aistudio.google.com/apikey. Images are billed by Google per image; the Generate "
            "page shows an estimate before you launch."
        )
        new_key = st.text_input(
            "API key",
            key="connect_gemini_key",
            type="password",
            placeholder="Paste a new key" if keys else "Paste your key",
        )
        g1, g2 = st.columns(2)
        if g1.button("Test key", key="connect_gemini_check", icon=":material/network_check:", disabled=not new_key):
            with ui.errors(), st.spinner("Asking Google…"):
                _test_key(new_key)
                st.success("Google accepted the key.", icon=":material/check_circle:")
        if g2.button("Save", key="connect_gemini_save", type="primary", icon=":material/save:", disabled=not new_key):
            with ui.errors():
                conn = save_connection(
                    rt.db,
                    rt.vault,
                    kind="gemini",
                    name="Gemini",
                    secret={"api_key": new_key.strip()},
                    connection_id=keys[0].id if keys else None,
                )
                rt.forget_provider("gemini")  # the next job uses the new key
                st.session_state.pop("connect_gemini_key", None)
                ui.flash("Saved the Gemini key. It is now offered on the Generate page.")
                st.rerun()
