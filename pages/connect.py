"""Connect: the demo store (always there), WooCommerce stores, Google Drive and the AI provider."""

import hashlib
from typing import Any

import streamlit as st

from lib import ui
from lib.kinds import Kind
from lib.screens.connect import ConnectionCard, ConnectScreen

screen = ConnectScreen(ui.runtime())
me = ui.actor()
ui.page_header("Connect", "Where your products come from, where approved images go, and which AI makes them.")
if not screen.may_change(me, Kind.WOOCOMMERCE):
    st.info(
        f"You are signed in as a {me.role.value}: you can see the connections, and only an admin can change them.",
        icon=":material/lock:",
    )
CONFIRM_REMOVE = "connect_confirm_remove"  # the connection id whose removal waits for a yes

stores = screen.cards(Kind.WOOCOMMERCE)
drives = screen.cards(Kind.DRIVE)
keys = screen.cards(Kind.GEMINI)
env_key = screen.env_key_hint
has_env_key = env_key is not None

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


def _status_line(conn: ConnectionCard) -> None:
    """Status badge, last check and its result."""
    row = st.columns([1, 3], vertical_alignment="center")
    with row[0]:
        if conn.status == "not tested":
            st.badge("not tested", color="gray")
        elif conn.status == "problem":
            st.badge("problem", color="red", icon=":material/error:")
        else:
            st.badge("working", color="green", icon=":material/check:")
    row[1].caption(f"Last check: {ui.fmt_when(conn.verified_at)}" + (" · active" if conn.active else ""))
    if conn.last_error:
        st.caption(ui.escape_md(conn.last_error))


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
            ui.checklist(screen.check(Kind.DEMO, actor=me))


def _remove(conn: ConnectionCard, after: str = "") -> None:
    """A Remove button that asks first; the removal itself is checked against the role and recorded in lib."""
    if st.session_state.get(CONFIRM_REMOVE) != conn.id:
        if st.button("Remove", key=f"connect_remove_{conn.id}", icon=":material/delete:"):
            st.session_state[CONFIRM_REMOVE] = conn.id
            st.rerun()
        return
    st.warning(f"Remove {ui.escape_md(conn.name)} and its saved keys? {after}".strip(), icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button("Yes, remove it", key=f"connect_remove_yes_{conn.id}", type="primary"):
        st.session_state.pop(CONFIRM_REMOVE, None)
        with ui.errors():
            screen.remove(actor=me, connection_id=conn.id)
            ui.flash(f"Removed {ui.escape_md(conn.name)}. {after}".strip())
            st.rerun()
    if no.button("Keep it", key=f"connect_remove_no_{conn.id}"):
        st.session_state.pop(CONFIRM_REMOVE, None)
        st.rerun()


def _actions(conn: ConnectionCard, prefix: str, after: str = "") -> bool:
    """Test / Make active / Remove for a saved connection; True when Test was pressed."""
    with st.container(horizontal=True, gap="small"):
        test = st.button("Test connection", key=f"connect_{prefix}_test_{conn.id}", icon=":material/network_check:")
        if not conn.active and st.button("Make active", key=f"connect_{prefix}_activate_{conn.id}"):
            with ui.errors():
                screen.activate(actor=me, connection_id=conn.id)
                st.rerun()
    _remove(conn, after)
    return test


def _test_and_save(kind: Kind, form: Any, *, prefix: str, secrets: tuple[str, ...], store: str, checking: str) -> None:
    """Test connection and Save for a store typed in. Save tests first (or takes the test just run on the same
    form); when a check fails it asks "Save anyway?" instead of saving a store that does not work."""
    tested_key, ask_key = f"connect_{prefix}_tested", f"connect_{prefix}_ask"
    typed = hashlib.sha256(repr(form).encode()).hexdigest()  # the same form as the last test? (no secret kept)
    tested = st.session_state.get(tested_key)
    known = tested[1] if tested and tested[0] == typed else None
    a, b = st.columns(2)
    shown = False
    if a.button("Test connection", key=f"connect_{prefix}_check", icon=":material/network_check:"):
        with ui.errors(), st.spinner(checking):
            known = screen.check_form(kind, actor=me, form=form)
            st.session_state[tested_key] = (typed, known)
            ui.checklist(known)
            shown = True

    def saved(card: Any, problem: str = "") -> None:
        for k in secrets:
            st.session_state.pop(k, None)  # secrets are never shown again
        st.session_state.pop(ask_key, None)
        st.session_state.pop(tested_key, None)
        name = ui.escape_md(card.name)
        if problem:
            ui.flash(
                f"Saved {name} though its test failed; it is marked “problem” until a test passes. "
                f"It is now the active {store}.",
                ":material/warning:",
            )
        else:
            ui.flash(f"Saved {name}. It is now the active {store}.")
        st.rerun()

    if b.button("Save", key=f"connect_{prefix}_save", type="primary", icon=":material/save:"):
        with ui.errors(), st.spinner(checking):
            attempt = screen.save_store(kind, actor=me, form=form, checks=known)
            if attempt.card is not None:
                saved(attempt.card)
            st.session_state[tested_key] = (typed, attempt.checks)
            st.session_state[ask_key] = typed
            known = attempt.checks
    if st.session_state.get(ask_key) != typed or known is None:  # nothing to ask, or the form changed since
        st.session_state.pop(ask_key, None)
        return
    if not shown:
        ui.checklist(known)
    st.warning(f"This {store} failed its test. Save anyway?", icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button("Save anyway", key=f"connect_{prefix}_save_anyway", icon=":material/save:"):
        with ui.errors():
            attempt = screen.save_store(kind, actor=me, form=form, checks=known, anyway=True)
            if attempt.card is not None:
                saved(attempt.card, attempt.problem)
    if no.button("Don't save", key=f"connect_{prefix}_save_no"):
        st.session_state.pop(ask_key, None)
        st.rerun()


# WooCommerce -----------------------------------------------------------------------------------------------
with cards[1].container(border=True):
    st.markdown("#### :material/shopping_cart: WooCommerce")
    if not stores:
        st.caption("No store connected yet. Add one below.")
    for conn in stores:
        with st.container(border=True):
            st.markdown(f"**{ui.escape_md(conn.name)}**" + ("  (active)" if conn.active else ""))
            st.text(ui.plain(conn.base_url or "", 200))
            st.caption(f"Key {ui.escape_md(conn.key_hint)} · WordPress user {ui.escape_md(conn.wp_user or '—')}")
            _status_line(conn)
            if _actions(conn, "woo", "Jobs and published images stay as they are."):
                with ui.errors(), st.spinner("Checking the store…"):
                    ui.checklist(screen.check(Kind.WOOCOMMERCE, conn.id, actor=me))

    with st.expander("Add a store", expanded=not stores, icon=":material/add:"):
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
        form = screen.WooForm(
            base_url=url, consumer_key=ck, consumer_secret=cs, wp_user=wp_user, app_password=app_pw, name=name
        )
        _test_and_save(
            Kind.WOOCOMMERCE,
            form,
            prefix="woo",
            secrets=("connect_woo_ck", "connect_woo_cs", "connect_woo_app"),
            store="store",
            checking="Checking the store…",
        )

# Shopify ---------------------------------------------------------------------------------------------------
shops = screen.cards(Kind.SHOPIFY)
with st.container(border=True):
    st.markdown("#### :material/store: Shopify")
    if not shops:
        st.caption("No shop connected yet. Add one below.")
    for conn in shops:
        with st.container(border=True):
            st.markdown(f"**{ui.escape_md(conn.name)}**" + ("  (active)" if conn.active else ""))
            st.text(ui.plain(conn.base_url or "", 200))
            st.caption(ui.escape_md(conn.key_hint))
            _status_line(conn)
            if _actions(conn, "shopify", "Jobs and published images stay as they are."):
                with ui.errors(), st.spinner("Checking the shop…"):
                    ui.checklist(screen.check(Kind.SHOPIFY, conn.id, actor=me))

    with st.expander("Add a shop", expanded=not shops, icon=":material/add:"):
        st.caption(
            "Use the shop's my-shop.myshopify.com address. Connect with a Dev Dashboard app's client id and "
            "secret (the app installed on the shop, with the scopes read_products, write_products and "
            "write_files), or with the Admin API access token (shpat_…) of an existing custom app."
        )
        name = st.text_input("Name", key="connect_shopify_name", placeholder="My shop")
        shop_url = st.text_input("Shop address", key="connect_shopify_shop", placeholder="my-shop.myshopify.com")
        way = st.radio(
            "Sign in with",
            ["Client id and secret", "Admin API access token"],
            key="connect_shopify_way",
            horizontal=True,
        )
        if way == "Client id and secret":
            s1, s2 = st.columns(2)
            client_id = s1.text_input("Client id", key="connect_shopify_client_id")
            client_secret = s2.text_input("Client secret", key="connect_shopify_secret", type="password")
            token = ""
        else:
            token = st.text_input("Admin API access token", key="connect_shopify_token", type="password")
            client_id = client_secret = ""
        shop_form = screen.ShopifyForm(
            shop=shop_url, access_token=token, client_id=client_id, client_secret=client_secret, name=name
        )
        _test_and_save(
            Kind.SHOPIFY,
            shop_form,
            prefix="shopify",
            secrets=("connect_shopify_token", "connect_shopify_secret"),
            store="shop",
            checking="Checking the shop…",
        )

# Google Drive ------------------------------------------------------------------------------------------------
st.subheader("Photos in Google Drive")


def _folder_picker(conn: ConnectionCard) -> None:
    """Browse the folders this Drive account can see and pick the one that holds the photos.

    Only runs while its toggle is on: every step is a request to Drive."""
    at_key = f"connect_drive_at_{conn.id}"
    here = st.session_state.setdefault(at_key, conn.root_folder_id or screen.SHARED_WITH_ME)

    def go(folder_id: str) -> None:
        st.session_state[at_key] = folder_id

    with st.container(border=True), ui.errors():
        trail = screen.breadcrumbs(connection_id=conn.id, folder_id=here)
        with st.container(horizontal=True, gap="small"):
            st.button(
                "Shared with me",
                key=f"connect_drive_top_{conn.id}",
                type="tertiary",
                on_click=go,
                args=(screen.SHARED_WITH_ME,),
                icon=":material/folder_shared:",
            )
            for i, folder in enumerate(trail):
                st.button(
                    f"› {ui.escape_md(folder.name)}",
                    key=f"connect_drive_crumb_{conn.id}_{i}",
                    type="tertiary",
                    on_click=go,
                    args=(folder.id,),
                )
        folders = screen.folders(connection_id=conn.id, parent_id=here)
        if not folders:
            st.caption(
                "No folders inside."
                if here != screen.SHARED_WITH_ME
                else "Nothing is shared with this account yet. Share your photo folder with "
                f"{conn.account or 'the service account'} in Drive, then look again."
            )
        for folder in folders[:60]:
            st.button(
                ui.label(folder.name).text,
                help=ui.label(folder.name).help,
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
        if here != screen.SHARED_WITH_ME and st.button(
            f"Use “{ui.label(trail[-1].name if trail else here).text}” for product photos",
            key=f"connect_drive_use_{conn.id}",
            type="primary",
            icon=":material/check:",
        ):
            with ui.errors():
                screen.choose_folder(
                    actor=me,
                    connection_id=conn.id,
                    folder_id=here,
                    shared_drive_id=trail[-1].drive_id if trail else None,
                )
                st.session_state.pop(f"connect_drive_browse_{conn.id}", None)
                ui.flash(f"Product photos now come from “{ui.escape_md(trail[-1].name if trail else here)}”.")
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
            st.markdown(f"**{ui.escape_md(conn.name)}**" + ("  (active)" if conn.active else ""))
            per = "one product per folder" if conn.one_per_folder else "one product per photo"
            where = f"Folder {conn.root_folder_id or 'root'} · {per}"
            who = (
                f" · shared with {conn.account}"
                if conn.account
                else " · user credentials"
                if conn.user_credentials
                else ""
            )
            st.caption(ui.escape_md(where + who))
            _status_line(conn)
            if _actions(conn, "drive", "Jobs and exported images stay as they are."):
                with ui.errors(), st.spinner("Listing the folder…"):
                    ui.checklist(screen.check(Kind.DRIVE, conn.id, actor=me))
            if st.toggle("Choose another folder", key=f"connect_drive_browse_{conn.id}"):
                _folder_picker(conn)
    with st.expander("Add a Drive folder", expanded=False, icon=":material/add:"):
        key_file = st.file_uploader(
            "Credentials JSON: service-account key or authorized-user file",
            type=["json"],
            key="connect_drive_key",
            help="Saved encrypted; never shown again.",
        )
        if key_file is not None:
            with ui.errors():
                st.caption(ui.escape_md(screen.credentials_hint(key_file.getvalue().decode("utf-8", "replace"))))
        folder = st.text_input(
            "Folder (link or id)",
            key="connect_drive_folder",
            placeholder="https://drive.google.com/drive/folders/…",
            help="Leave empty to start at My Drive (user credentials only).",
        )
        mode = st.radio(
            "How photos become products",
            list(screen.DRIVE_MODES),
            key="connect_drive_mode",
            format_func=lambda m: {
                "folders": "One product per folder (all its photos)",
                "images": "One product per photo",
            }.get(m, m),
            horizontal=True,
        )
        dname = st.text_input("Name (optional)", key="connect_drive_name")
        if (
            st.button(
                "Save and test",
                key="connect_drive_save",
                type="primary",
                icon=":material/save:",
                disabled=key_file is None,
            )
            and key_file is not None
        ):
            with ui.errors():
                saved = screen.save(
                    Kind.DRIVE,
                    actor=me,
                    form=screen.DriveForm(
                        credentials_json=key_file.getvalue().decode("utf-8", "replace"),
                        root_folder_id=folder,
                        mode=mode,
                        name=dname,
                    ),
                )
                [check] = screen.check(Kind.DRIVE, saved.id, actor=me)
                if check.ok:
                    ui.flash(check.detail)
                else:
                    ui.flash(f"Saved, but the test failed: {check.detail}", ":material/warning:")
                st.rerun()

# AI provider ----------------------------------------------------------------------------------------------
st.subheader("AI provider")
ai = st.columns(2)
with ai[0].container(border=True):
    st.markdown("#### :material/photo_camera: Studio engine")
    st.badge("always available", color="green", icon=":material/check:")
    st.caption(
        screen.provider_note(Kind.STUDIO) + " It places your product photo in the chosen scene with light "
        "and shadow; it does not invent new details."
    )
    if st.button("Test engine", key="connect_studio_test", icon=":material/network_check:"):
        with ui.errors():
            ui.checklist(screen.check(Kind.STUDIO, actor=me))

with ai[1].container(border=True):
    st.markdown("#### :material/auto_awesome: Google Gemini")
    if has_env_key and not keys:
        st.caption(f"A key is set in the app's settings ({env_key}).")
    for conn in keys:
        st.markdown(f"**{ui.escape_md(conn.name)}** · key {ui.escape_md(conn.key_hint)}")
        _status_line(conn)
        b = st.columns(2)
        if b[0].button("Test key", key=f"connect_gemini_test_{conn.id}", icon=":material/network_check:"):
            with ui.errors():
                ui.checklist(screen.check(Kind.GEMINI, conn.id, actor=me))
        with b[1]:
            _remove(conn, "Jobs already made stay as they are.")
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
            ui.checklist(screen.check_form(Kind.GEMINI, actor=me, form=screen.GeminiForm(api_key=new_key)))
    if g2.button("Save", key="connect_gemini_save", type="primary", icon=":material/save:", disabled=not new_key):
        with ui.errors():
            screen.save(
                Kind.GEMINI,
                actor=me,
                form=screen.GeminiForm(api_key=new_key),
                connection_id=keys[0].id if keys else None,
            )
            st.session_state.pop("connect_gemini_key", None)
            ui.flash("Saved the Gemini key. It is now offered on the Generate page.")
            st.rerun()

# People (admins): who may sign in and with which role -------------------------------------------------------
if screen.may_manage_people(me):
    st.subheader("People")
    people = screen.people()
    if people:
        st.dataframe(
            [
                {
                    "Name": ui.plain(u.name, 100),
                    "E-mail": ui.plain(u.email or "", 200),
                    "Role": u.role,
                    "Password": "yes" if u.password_hash else "",
                }
                for u in people
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption(
            "Nobody is registered. People who sign in with your identity provider get their role from [access] in "
            "secrets.toml; add someone here to give them another role, or a password when there is no provider."
        )
    with st.expander("Add a person or change a role", icon=":material/person_add:"):
        p = st.columns([2, 3, 2])
        uname = p[0].text_input("Name", key="connect_user_name")
        uemail = p[1].text_input("E-mail (identity provider)", key="connect_user_email")
        urole = p[2].selectbox("Role", screen.ROLES, key="connect_user_role")
        upw = st.text_input("Password (optional, 10+ characters)", key="connect_user_pw", type="password")
        st.caption(
            "Once anyone has a password (and no identity provider is set up), everyone signs in with a name and "
            "password: add an admin for yourself first."
        )
        known = {u.name for u in people}
        wanted = uname.strip().lower()
        q = st.columns(3)
        if q[0].button("Save", key="connect_user_save", type="primary", icon=":material/save:", disabled=not uname):
            with ui.errors():
                if wanted in known:
                    screen.set_role(actor=me, name=uname, role=urole)
                    if upw:
                        screen.set_password(actor=me, name=uname, password=upw)
                else:
                    screen.add_person(actor=me, name=uname, role=urole, email=uemail or None, password=upw or None)
                st.session_state.pop("connect_user_pw", None)
                ui.flash(f"Saved {ui.escape_md(wanted)} as {urole}.")
                st.rerun()
        if wanted in known and q[1].button("Remove", key="connect_user_remove", icon=":material/delete:"):
            with ui.errors():
                screen.remove_person(actor=me, name=uname)
                ui.flash(f"Removed {ui.escape_md(wanted)}.")
                st.rerun()
