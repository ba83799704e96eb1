"""Shared Streamlit pieces: the cached runtime, error display, session-state keys and small widgets.

This is the only module in lib/ that imports streamlit. Pages call `ui.runtime()` (so a single page works under
AppTest too), wrap user actions in `with ui.errors():`, and keep their widget keys prefixed per page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.state.session_state_proxy import get_session_state

from lib import display_text
from lib.auth import access, users
from lib.auth.access import AuthMode
from lib.auth.roles import Actor, Permission, local_admin
from lib.catalog import SelectionBook
from lib.checks import Check
from lib.config import Settings
from lib.display_text import CAPTION_LIMIT, LABEL_LIMIT, Shown, clean, inert_markdown, safe_text
from lib.errors import AppError as AppError  # re-exported: pages catch it around a screen call
from lib.errors import ConfigError, NotOnAllowList
from lib.formatting import fmt_cost as fmt_cost  # re-exported: the formatting every page uses
from lib.formatting import fmt_ms as fmt_ms
from lib.formatting import fmt_updated as fmt_updated
from lib.formatting import fmt_when as fmt_when
from lib.formatting import plural as plural
from lib.labels import STATE_COLORS, state_label
from lib.runtime import Runtime
from lib.screens.sidebar import sidebar_status
from lib.worker import start_embedded

log = logging.getLogger(__name__)

# Session-state keys shared between pages (page-local widget keys carry the page's prefix instead).
SELECTIONS = "selections"  # lib.catalog.SelectionBook
CURRENT_JOB = "current_job"  # the job the Generate page follows
GALLERY_JOB = "gallery_job_pick"  # the job the Gallery shows (set by Generate's "Review" button)
DEMO_SIZE = "catalog_demo_size"  # benchmarks: a generated demo catalogue of this many products
FLASH = "flash"  # one message shown once on the next page view
NAV_TARGET = "nav_target"  # the page `go` last switched to
ACTOR = "actor"  # lib.auth.roles.Actor: who is using the app in this session (set by `gate`)
PASSWORD_USER = "password_user"  # the name signed in with a password (the role is read again every run)
SIGN_IN_ERROR = "sign_in_error"  # why the last password sign-in failed, shown once

PAGES = {
    "connect": "pages/connect.py",
    "products": "pages/products.py",
    "generate": "pages/generate.py",
    "gallery": "pages/gallery.py",
    "jobs": "pages/jobs.py",
}


# Runtime -----------------------------------------------------------------------------------------


@dataclass
class AppContext:
    runtime: Runtime
    worker: Any = None  # lib.worker's embedded handle, when one runs in this process


def _stop_worker(ctx: AppContext) -> None:
    stop = getattr(ctx.worker, "stop", None)
    if callable(stop):
        stop()


@st.cache_resource(show_spinner=False, on_release=_stop_worker)
def _context() -> AppContext:
    settings = Settings.load()
    runtime = Runtime.build(settings)
    worker = start_embedded(runtime) if settings.embedded_worker else None
    return AppContext(runtime, worker)


def context() -> AppContext:
    try:
        return _context()
    except AppError as exc:
        show_error(exc)
        st.stop()


def runtime() -> Runtime:
    """The process-wide Runtime (settings, job log, blobs, vault), built once."""
    _leave_pages_directory_mode()
    return context().runtime


def _leave_pages_directory_mode() -> None:
    """Make a deep link (/gallery) opened first after a restart go through app.py.

    Streamlit starts a process in the old "pages/ directory" mode whenever a pages/ folder exists, and only
    leaves it once app.py has called st.navigation. Until then a deep link would run the page file alone:
    no sidebar, no page config. Leaving that mode here and rerunning sends the run through app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without this internal: nothing to fix
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def forget_gone_widgets() -> None:
    """Let go of the widgets the last run no longer drew. app.py calls it at the top of every run.

    Why the server grew ~1.6 MB per Gallery page viewed, for the life of the session (issue 17): Streamlit 1.67
    drops a widget's value once it stops rendering but keeps its metadata until a widget with the same id registers
    again (deleting the key does not drop it either). The metadata holds the on_click/on_change callback, and a
    callback defined in a page script holds that run's namespace (`__globals__`): every entry, fidelity check and
    Asset the run loaded. A Gallery page draws ~160 new keyed widgets, so each page viewed pinned a whole run.

    A widget in neither the previous run's state nor what the browser sent for this run is gone: nothing can call
    its callback (Streamlit ignores a change reported for a widget it has no metadata for), so its metadata and key
    are dropped. Widgets bound to the URL or kept across pages (persist_state) are left alone; so is everything on a
    Streamlit laid out otherwise (tests/ui/test_ui_helpers.py checks a paged-away run is freed either way).
    """
    try:
        safe = get_session_state()
        state = safe._state
        metadata = state._new_widget_state.widget_metadata
        keys = state._key_id_mapper
        bound = state._query_param_bound_widget_ids
        persisted = state._persist_tracker.scope_of
    except AttributeError:
        return
    with safe._lock:
        live = state._keys()  # the previous run's widgets (compacted) and the browser's values for this run
        for widget_id in [w for w in metadata if w not in live and w not in bound and persisted(w) is None]:
            del metadata[widget_id]
            key = keys.id_key_mapping.get(widget_id)
            if key is not None and keys.get_id_from_key(key) == widget_id:
                keys.delete(key)
            else:
                keys.id_key_mapping.pop(widget_id, None)


# Errors and messages -----------------------------------------------------------------------------


def show_error(exc: BaseException) -> None:
    """A typed error as one plain sentence; anything else goes to Streamlit's own error box."""
    if isinstance(exc, AppError):
        st.error(exc.message, icon=":material/error:")
        return
    raise exc


@contextmanager
def errors() -> Iterator[None]:
    """Wrap a user action: an AppError becomes st.error with its sentence, never a traceback."""
    try:
        yield
    except AppError as exc:
        show_error(exc)


def fail(message: str) -> NoReturn:
    st.error(message, icon=":material/error:")
    st.stop()


def flash(message: str, icon: str = ":material/check_circle:") -> None:
    """Show `message` once, at the top of the next run (after st.rerun / st.switch_page)."""
    st.session_state[FLASH] = (message, icon)


def show_flash() -> None:
    item = st.session_state.pop(FLASH, None)
    if item:
        st.success(item[0], icon=item[1])


# Shared state ------------------------------------------------------------------------------------


def selections() -> SelectionBook:
    book = st.session_state.get(SELECTIONS)
    if book is None:
        book = SelectionBook()
        st.session_state[SELECTIONS] = book
    return book


def demo_size() -> int | None:
    size = st.session_state.get(DEMO_SIZE)
    return int(size) if size else None


# Widgets -----------------------------------------------------------------------------------------


def page_header(title: str, subtitle: str) -> None:
    st.title(title)
    st.caption(subtitle)
    show_flash()


def status_badge(state: str | None) -> None:
    state = str(state or "")
    st.badge(state_label(state), color=STATE_COLORS.get(state, "gray"))  # type: ignore[arg-type]


def page_link(page: str, *, label: str, icon: str | None = None) -> None:
    """st.page_link to one of PAGES; a plain caption when the page runs on its own (AppTest of one file)."""
    try:
        st.page_link(PAGES.get(page, page), label=label, icon=icon)
    except StreamlitAPIException:
        st.caption(f"→ {label}")


def go(page: str) -> NoReturn:
    """Switch to another page. Remembers the target, so tests of a single page file can see where it went."""
    st.session_state[NAV_TARGET] = page
    try:
        st.switch_page(PAGES.get(page, page))
    except StreamlitAPIException:  # no st.navigation in this run (a page file tested on its own)
        st.stop()
    raise AssertionError("unreachable")  # st.switch_page always raises


def empty_state(
    title: str, text: str, *, page: str | None = None, label: str | None = None, icon: str = ":material/arrow_forward:"
) -> None:
    with st.container(border=True):
        st.subheader(title)
        st.write(text)
        if page:
            page_link(page, label=label or "Go", icon=icon)


def product_caption(product: dict[str, Any] | Any) -> tuple[str, str]:
    """(name, 'SKU · category') as plain text; product data is never rendered as HTML or markdown."""
    get = product.get if isinstance(product, dict) else lambda k, d="": getattr(product, k, d)
    name = str(get("name", "") or "(no name)")
    meta = " · ".join(x for x in (str(get("sku", "") or ""), str(get("category", "") or "")) if x)
    return name, meta


def product_title(product: dict[str, Any] | Any) -> None:
    name, meta = product_caption(product)
    shown = safe_text(name)
    # st.text: never interpreted as markdown or HTML; a long name is cut, the whole of it on hover.
    st.text(display_text.plain(name, CAPTION_LIMIT), help=shown.help)
    if meta:
        st.caption(escape_md(meta))


def escape_md(text: Any) -> str:
    """Text safe to pass to st.markdown/st.caption/labels, whole (lib.display_text.safe_text when it should be
    shortened): Markdown, HTML and autolinks inert, bidi controls and NULs removed."""
    return inert_markdown(clean(text))


def plain(text: Any, limit: int | None = None) -> str:
    """Outside text for st.text and table cells (no Markdown there): clean, and cut to `limit`."""
    return display_text.plain(text, limit)


def label(text: Any, limit: int = LABEL_LIMIT) -> Shown:
    """Outside text for a widget label: `.text` for the label, `.help` for its tooltip (None unless cut)."""
    return safe_text(text, limit)


def image(data: bytes | str | None, *, caption: str | None = None, width: Any = "stretch") -> None:
    if data is None:
        st.caption("No photo")
        return
    st.image(data, caption=caption, width=width)


def before_after(
    source: bytes | None, generated: bytes | None, *, labels: tuple[str, str] = ("Before", "After")
) -> None:
    left, right = st.columns(2)
    with left:
        st.caption(labels[0])
        image(source)
    with right:
        st.caption(labels[1])
        image(generated)


def checklist(checks: list[Check]) -> None:
    """A connection test's checks. One check reads as a sentence (success or error); several as a list, each
    line ✓ or ✗ with what was found, and under a failure what to do about it."""
    if len(checks) == 1:
        [check] = checks
        sentence = " ".join(x for x in (check.detail or check.label, check.advice) if x)
        if check.ok:
            st.success(sentence, icon=":material/check_circle:")
        else:
            st.error(sentence, icon=":material/error:")
        return
    for check in checks:
        if check.ok:
            icon = ":material/check_circle:"
        else:
            icon = ":material/remove_circle_outline:" if check.skipped else ":material/cancel:"
        detail = f" — {escape_md(check.detail)}" if check.detail else ""
        st.markdown(f"{icon} **{escape_md(check.label)}**{detail}")
        if check.advice and not check.ok and not check.skipped:
            st.caption(escape_md(f"Fix: {check.advice}"))


def sidebar(rt: Runtime) -> None:
    status = sidebar_status(rt)
    with st.sidebar:
        st.markdown(
            f":material/storefront: **Store:** {escape_md(status.store)}  \n"
            f":material/auto_awesome: **AI:** {escape_md(status.provider)}"
        )
        if status.running_jobs:
            st.badge(
                f"{status.running_jobs} job{'s' if status.running_jobs != 1 else ''} running",
                icon=":material/autorenew:",
                color="blue",
            )
        else:
            st.badge("No jobs running", icon=":material/check:", color="gray")
        if context().worker is None and rt.settings.embedded_worker is False:
            st.caption("Jobs run in a separate worker (`python -m lib.worker`).")


# Sign-in ------------------------------------------------------------------------------------------


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, StreamlitAPIException, KeyError):  # no secrets.toml at all
        return False
    except Exception:  # noqa: BLE001  StreamlitSecretNotFoundError, whose import path moves between versions
        return False


def _oidc_provider() -> str | None:
    """The provider's name for st.login when secrets.toml names several ([auth.google], ...), else None."""
    section = st.secrets.get("auth", {})
    if "client_id" in section:
        return None
    named = [k for k, v in section.items() if hasattr(v, "keys") and "client_id" in v]
    return named[0] if named else None


def auth_mode(rt: Runtime) -> AuthMode:
    return access.auth_mode(oidc_configured=_oidc_configured(), password_users=users.password_users(rt.db))


def gate(rt: Runtime) -> Actor:
    """Who is using the app. Stops the run with a sign-in form, or with a refusal that says why, until someone
    allowed is signed in; with no sign-in configured, the person at this computer (the app serves 127.0.0.1 only)."""
    mode = auth_mode(rt)
    if mode is AuthMode.NONE:
        try:
            access.check_exposure(
                st.get_option("server.address"), mode, allow_public=rt.settings.allow_public_without_auth
            )
        except ConfigError as exc:
            fail(exc.message)
        actor = local_admin("local")
    elif mode is AuthMode.OIDC:
        actor = _oidc_actor(rt)
    else:
        actor = _password_actor(rt)
    st.session_state[ACTOR] = actor
    return actor


def _oidc_actor(rt: Runtime) -> Actor:
    if not st.user.get("is_logged_in", False):
        st.title("ImageGecko Studio")
        st.write("Sign in with your work account to continue.")
        provider = _oidc_provider()
        st.button(
            "Sign in",
            key="auth_login",
            type="primary",
            icon=":material/login:",
            on_click=st.login,
            args=(provider,) if provider else (),
        )
        st.stop()
    try:
        return access.oidc_actor(rt.db, rt.settings.access, st.user.to_dict())
    except NotOnAllowList as exc:
        st.title("ImageGecko Studio")
        st.warning(escape_md(exc.message), icon=":material/block:")  # names the account: outside text
        st.button("Sign out", key="auth_logout_refused", icon=":material/logout:", on_click=st.logout)
        st.stop()


def _password_actor(rt: Runtime) -> Actor:
    name = st.session_state.get(PASSWORD_USER)
    if name:
        actor = users.actor_for(rt.db, name, via="password")  # removed or disabled since: signed out
        if actor is not None:
            return actor
        st.session_state.pop(PASSWORD_USER, None)
    st.title("ImageGecko Studio")
    with st.form("auth_password_form"):
        st.subheader("Sign in")
        st.text_input("Name", key="auth_name", autocomplete="username")
        st.text_input("Password", key="auth_password", type="password", autocomplete="current-password")
        st.form_submit_button("Sign in", type="primary", icon=":material/login:", on_click=_try_password, args=(rt,))
    refused = st.session_state.pop(SIGN_IN_ERROR, None)
    if refused:
        st.error(refused, icon=":material/error:")
    st.caption("No account yet? An admin adds one with `python -m lib.cli users add NAME --role reviewer`.")
    st.stop()


def _try_password(rt: Runtime) -> None:
    # A callback: it runs before the next script run, so its outcome survives the rerun that run may make.
    name = str(st.session_state.get("auth_name", ""))
    password = str(st.session_state.get("auth_password", ""))
    st.session_state["auth_password"] = ""  # never kept in the session
    try:
        signed_in = users.sign_in(rt.db, name, password)
    except AppError as exc:
        st.session_state[SIGN_IN_ERROR] = exc.message
    else:
        st.session_state[PASSWORD_USER] = signed_in.name


def actor() -> Actor:
    """Who is acting in this run: set by app.py's gate; a page run on its own (AppTest) passes the gate here."""
    current = st.session_state.get(ACTOR)
    if isinstance(current, Actor):
        return current
    return gate(runtime())


def sign_out() -> None:
    st.session_state.pop(ACTOR, None)
    st.session_state.pop(PASSWORD_USER, None)


def who_badge(rt: Runtime, who: Actor) -> None:
    """In the sidebar of every page: who is signed in (and a way out), or that the app is local only."""
    with st.sidebar:
        if who.via == "local":
            st.badge(access.LOCAL_BADGE, icon=":material/lock_open:", color="gray")
            return
        st.caption(f":material/person: {escape_md(who.label)} · {who.role.value}")
        if who.via == "oidc":
            st.button("Sign out", key="auth_logout", icon=":material/logout:", on_click=_oidc_sign_out)
        else:
            st.button("Sign out", key="auth_logout", icon=":material/logout:", on_click=sign_out)


def _oidc_sign_out() -> None:
    sign_out()
    st.logout()


def can(permission: Permission) -> bool:
    return actor().can(permission)
