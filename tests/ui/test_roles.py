"""Every page with each role: the page shows (a viewer sees everything), and the page's state-changing action is
refused in lib, with the sentence shown where the person acted, for every role below the one it needs (and done
for the others). The role is put in the session as app.py's gate would (st.user is covered in test_sign_in.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lib import jobs, ui
from lib.auth import audit
from lib.auth.roles import Actor, Role
from lib.catalog import SelectionBook
from lib.connections import list_connections, save_connection
from lib.models import Asset, JobStatus, ReviewState
from lib.publish import product_publications
from lib.runtime import Runtime
from lib.sources.demo import DemoSource
from lib.worker import run_until_idle
from tests.ui.conftest import assert_ok, make_job, page


def said(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.error, *at.success, *at.warning, *at.info])


@dataclass
class Scenario:
    page: str
    needs: Role
    run: Callable[[Runtime, Actor], tuple[AppTest, Callable[[], bool]]]  # the page after acting; did it change?


def as_(name: str, who: Actor, **state: object) -> AppTest:
    at = page(name, **{ui.ACTOR: who, **state}).run()
    assert_ok(at)
    return at


def remove_a_store(rt: Runtime, who: Actor) -> tuple[AppTest, Callable[[], bool]]:
    conn = save_connection(rt.db, rt.vault, kind="woocommerce", name="Shop", secret={"consumer_key": "ck_1"})
    at = as_("connect", who)
    at.button(key=f"connect_remove_{conn.id}").click().run()
    assert "Remove Shop and its saved keys?" in said(at)  # asks first
    at.button(key=f"connect_remove_yes_{conn.id}").click().run()
    return at, lambda: not list_connections(rt.db, "woocommerce")


def rename_an_upload(rt: Runtime, who: Actor) -> tuple[AppTest, Callable[[], bool]]:
    from lib.sources import upload

    buf = io.BytesIO()
    Image.new("RGB", (700, 700), (255, 255, 255)).save(buf, "JPEG")
    [p] = upload.add_uploads(rt, [("vase.jpg", buf.getvalue())])
    at = as_("products", who)
    at.selectbox(key="prod_source").set_value("upload").run()
    at.text_input(key=f"prod_rn_name_{p.id}").input("Tall vase")
    at.button(key=f"prod_rn_save_{p.id}").click().run()
    return at, lambda: upload.to_product(upload_row(rt, p.id)).name == "Tall vase"


def upload_row(rt: Runtime, product_id: object):  # type: ignore[no-untyped-def]
    from lib.models import UploadedProduct

    with rt.db.session() as s:
        return s.get(UploadedProduct, int(str(product_id)))


def launch_a_job(rt: Runtime, who: Actor) -> tuple[AppTest, Callable[[], bool]]:
    book = SelectionBook()
    book.active.add(DemoSource(rt).get_product("1"))
    at = as_("generate", who, **{ui.SELECTIONS: book})
    at.button(key="gen_launch").click().run()
    return at, lambda: jobs.list_jobs(rt.db, page=1, per_page=5)[1] == 1


def approve_an_image(rt: Runtime, who: Actor) -> tuple[AppTest, Callable[[], bool]]:
    job_id = make_job(rt, ["1"])
    [asset] = [a for e in jobs.gallery(rt.db, job_id) for a in e.assets]
    at = as_("gallery", who)
    at.button(key=f"gallery_ok_{asset.id}").click().run()

    def changed() -> bool:
        with rt.db.session() as s:
            return s.get(Asset, asset.id).review_state == ReviewState.APPROVED  # type: ignore[union-attr]

    return at, changed


def publish_an_image(rt: Runtime, who: Actor) -> tuple[AppTest, Callable[[], bool]]:
    job_id = make_job(rt, ["1"])
    jobs.approve_all(rt.db, job_id=job_id)
    at = as_("gallery", who)
    at.radio(key="gallery_role").set_value("gallery").run()
    at.button(key="gallery_publish").click().run()
    at.button(key="gallery_publish_confirm").click().run()

    def published() -> bool:
        run_until_idle(rt)  # the worker runs whatever the page queued
        return any(p.state == "done" for p in product_publications(rt.db, job_id))

    return at, published


def cancel_a_job(rt: Runtime, who: Actor) -> tuple[AppTest, Callable[[], bool]]:
    job_id = make_job(rt, ["1", "2"], run=False)
    at = as_("jobs", who)
    at.button(key="jobs_cancel").click().run()
    return at, lambda: jobs.get_job(rt.db, job_id).status == JobStatus.CANCELLED


SCENARIOS = [
    Scenario("connect", Role.ADMIN, remove_a_store),
    Scenario("products", Role.REVIEWER, rename_an_upload),
    Scenario("generate", Role.REVIEWER, launch_a_job),
    Scenario("gallery", Role.REVIEWER, approve_an_image),
    Scenario("gallery", Role.PUBLISHER, publish_an_image),
    Scenario("jobs", Role.REVIEWER, cancel_a_job),
]


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.page}-{s.run.__name__}")
def test_each_page_with_each_role(home: Path, rt: Runtime, scenario: Scenario, role: Role) -> None:
    who = Actor(f"{role.value}-person", role)
    at, changed = scenario.run(rt, who)
    assert_ok(at)
    if role.rank < scenario.needs.rank:
        assert f"{who.name} is a {role.value}: " in said(at)
        assert f"needs the {scenario.needs.value} role or higher" in said(at)
        assert not changed()
        assert [e for e in audit.recent(rt.db) if e.actor == who.name] == []
    else:
        assert changed(), said(at)
        assert [e.actor for e in audit.recent(rt.db)][0] == who.name  # the change records who made it


def test_an_admin_adds_a_person_on_the_connect_page_and_others_do_not_see_the_form(home: Path, rt: Runtime) -> None:
    from lib.auth import users

    at = as_("connect", Actor("root", Role.ADMIN))
    at.text_input(key="connect_user_name").input("Pat")
    at.text_input(key="connect_user_email").input("pat@partner.example")
    at.selectbox(key="connect_user_role").set_value("publisher").run()
    at.button(key="connect_user_save").click().run()
    assert_ok(at)
    pat = users.get_user(rt.db, "pat")
    assert pat is not None and (pat.role, pat.email, pat.password_hash) == ("publisher", "pat@partner.example", None)
    assert audit.recent(rt.db, 1)[0].message == "pat added as publisher"
    publisher = as_("connect", Actor("pat", Role.PUBLISHER))
    assert "People" not in [s.value for s in publisher.subheader]
    assert "only an admin can change them" in said(publisher)
