"""Connect page: the guide, the demo store card, saved secrets shown only masked."""

from __future__ import annotations

from lib.connections import list_connections, read_secret
from tests.ui.conftest import assert_ok, page

KEY = "AIzaSy-test-key-1234567890-wxyz"


def _all_text(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "text", "success", "error", "warning", "info"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [str(t.value) for t in at.text_input]
    return "\n".join(parts)


def test_first_run_guide_and_demo_card(home) -> None:
    at = page("connect").run()
    assert_ok(at)
    text = _all_text(at)
    assert "Try it on the demo store" in text and "no keys" in text
    at.button(key="connect_demo_test").click().run()
    assert_ok(at)
    assert any("demo store answers" in s.value for s in at.success)
    at.button(key="connect_studio_test").click().run()
    assert any("studio engine works" in s.value for s in at.success)


def test_gemini_key_is_saved_encrypted_and_never_shown_again(home, rt) -> None:
    at = page("connect").run()
    at.text_input(key="connect_gemini_key").input(KEY).run()
    at.button(key="connect_gemini_save").click().run()
    assert_ok(at)
    [conn] = list_connections(rt.db, "gemini")
    assert read_secret(rt.vault, conn)["api_key"] == KEY
    assert KEY.encode() not in (conn.secret_blob or b"")
    text = _all_text(at)
    assert KEY not in text
    assert "wxyz" in text  # the masked form: the last characters only
    assert at.text_input(key="connect_gemini_key").value == ""


def test_gemini_key_test_failure_is_a_sentence(home, rt, monkeypatch) -> None:
    from lib.errors import ProviderAuthError
    from lib.generation import gemini

    def refuse(*args, **kwargs):
        raise ProviderAuthError("Google rejected this API key.")

    monkeypatch.setattr(gemini, "test_key", refuse)
    at = page("connect").run()
    at.text_input(key="connect_gemini_key").input("bad").run()
    at.button(key="connect_gemini_check").click().run()
    assert_ok(at)
    assert [e.value for e in at.error] == ["Google rejected this API key."]


def test_saved_drive_and_store_cards_show_status_without_secrets(home, rt) -> None:
    from lib.connections import mark_verified, save_connection

    store = save_connection(
        rt.db,
        rt.vault,
        kind="woocommerce",
        name="Shop",
        base_url="https://shop.example.com",
        secret={"consumer_key": "ck_1234567890abcdef", "consumer_secret": "cs_secret_value"},
        settings={"wp_user": "editor"},
    )
    mark_verified(rt.db, store.id, "API key valid: the store refused the key.")
    save_connection(
        rt.db,
        rt.vault,
        kind="drive",
        name="Photos",
        secret={"credentials_json": "{}"},
        settings={"root_folder_id": "abc123", "mode": "folders", "account": "bot@proj.iam.gserviceaccount.com"},
    )
    at = page("connect").run()
    assert_ok(at)
    text = _all_text(at)
    assert "cdef" in text and "ck_1234567890abcdef" not in text and "cs_secret_value" not in text
    assert "the store refused the key" in text
    # Escapes and the invisible word joiner that keeps an address from becoming a link are not what a person sees.
    assert "bot@proj.iam.gserviceaccount.com" in text.replace("\\", "").replace("\u2060", "")
    assert at.expander[0].proto.expanded is False  # the guide folds away once something is connected
