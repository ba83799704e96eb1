"""Every state-changing entry point checks the role in lib: a viewer is refused with a sentence and nothing
changes. The list below is explicit; a public function that takes an actor and is not in it fails the meta-test."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, col, select

from lib import actions, jobs
from lib.auth import audit, budgets, users
from lib.auth.roles import Actor, Role, local_admin
from lib.connections import save_connection
from lib.errors import PermissionDenied
from lib.models import Connection, Publication
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.sources.demo import DemoSource
from lib.worker import run_until_idle
from tests.conftest import png_bytes

VIEWER = Actor("vera", Role.VIEWER, email="vera@corp.example", via="oidc")
ADMIN = local_admin("root")


@pytest.fixture
def world(rt: Runtime) -> dict[str, Any]:
    """A finished demo job with images, a saved store connection and a second user: something to change."""
    src = DemoSource(rt)
    products = src.list_products(ProductQuery(per_page=2))
    job = actions.launch(
        rt, actor=ADMIN, spec=jobs.JobSpec(source_kind="demo"), selections=[jobs.Selection(p) for p in products.items]
    )
    run_until_idle(rt)
    assert job.id is not None
    items = jobs.job_items(rt.db, job.id)
    assets = [i.result_asset_id for i in items if i.result_asset_id]
    conn = save_connection(rt.db, rt.vault, kind="woocommerce", name="Shop", secret={"consumer_key": "ck_x"})
    shop = save_connection(rt.db, rt.vault, kind="shopify", name="Shopify shop", secret={"access_token": "shpat_x"})
    users.add_user(rt.db, actor=ADMIN, name="wen", role="reviewer")
    return {
        "job": job.id,
        "item": items[0].id,
        "assets": assets,
        "conn": conn.id,
        "shop": shop.id,
        "product": products.items[0],
    }


def _never(*_: Any) -> Any:
    raise AssertionError("the connector was called although the role does not allow it")


# Every state-changing entry point, called as a person would. Add new ones here.
ENTRY_POINTS: list[tuple[Callable[..., Any], Callable[[dict[str, Any]], dict[str, Any]]]] = [
    (
        actions.launch,
        lambda w: {"spec": jobs.JobSpec(source_kind="demo"), "selections": [jobs.Selection(w["product"])]},
    ),
    (actions.cancel_job, lambda w: {"job_id": w["job"]}),
    (actions.cancel_item, lambda w: {"item_id": w["item"]}),
    (actions.retry_failed, lambda w: {"job_id": w["job"]}),
    (actions.resume_job, lambda w: {"job_id": w["job"]}),
    (actions.regenerate_item, lambda w: {"item_id": w["item"], "prompt_extra": "on a beach"}),
    (actions.regenerate_flagged, lambda w: {"job_id": w["job"]}),
    (actions.set_review, lambda w: {"asset_ids": w["assets"], "state": "approved"}),
    (actions.approve_all, lambda w: {"job_id": w["job"]}),
    (actions.set_alt_text, lambda w: {"asset_id": w["assets"][0], "text": "new words"}),
    (actions.add_uploads, lambda w: {"files": [("mug.png", png_bytes((300, 300)))]}),
    (actions.rename_upload, lambda w: {"product_id": "1", "name": "Mug", "sku": "M1"}),
    (actions.export, lambda w: {"job_id": w["job"], "folder_id": "folder"}),
    (actions.queue_publish, lambda w: {"job_id": w["job"], "role": "featured"}),
    (actions.queue_rollback, lambda w: {"job_id": w["job"]}),
    (actions.queue_export, lambda w: {"job_id": w["job"], "folder_id": "folder"}),
    (actions.save_connection, lambda w: {"kind": "woocommerce", "save": _never}),
    (actions.save_connection, lambda w: {"kind": "shopify", "save": _never}),
    (actions.save_connection, lambda w: {"kind": "gemini", "save": _never}),
    (actions.check_connection, lambda w: {"kind": "woocommerce", "connection_id": w["conn"], "check": _never}),
    (actions.check_connection, lambda w: {"kind": "shopify", "connection_id": w["shop"], "check": _never}),
    (actions.change_connection, lambda w: {"connection_id": w["conn"], "what": "a folder", "change": _never}),
    (actions.activate_connection, lambda w: {"connection_id": w["conn"]}),
    (actions.activate_connection, lambda w: {"connection_id": w["shop"]}),
    (actions.remove_connection, lambda w: {"connection_id": w["conn"]}),
    (actions.remove_connection, lambda w: {"connection_id": w["shop"]}),
    (users.add_user, lambda w: {"name": "x", "role": "admin", "password": "long enough password"}),
    (users.set_role, lambda w: {"name": "wen", "role": "admin"}),
    (users.set_password, lambda w: {"name": "wen", "password": "long enough password"}),
    (users.remove_user, lambda w: {"name": "wen"}),
    (budgets.set_budget, lambda w: {"monthly_usd": 1000.0}),
    (budgets.raise_job_share, lambda w: {"job_id": w["job"], "cap_usd": None}),
]

GUARDED_MODULES: list[ModuleType] = [actions, users, budgets]
# Take an actor but are not entry points: a read, and the bookkeeping actions.launch does after its own check.
NOT_ENTRY_POINTS = {"lib.auth.budgets.check_launch", "lib.auth.budgets.record_launch"}


def _snapshot(rt: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    with rt.db.engine.connect() as c:
        return {t: [tuple(r) for r in c.execute(text(f'SELECT * FROM "{t}"')).all()] for t in SQLModel.metadata.tables}


@pytest.mark.parametrize(("entry", "kwargs"), ENTRY_POINTS, ids=lambda v: getattr(v, "__qualname__", ""))
def test_a_viewer_is_refused_and_nothing_changes(
    rt: Runtime, world: dict[str, Any], entry: Callable[..., Any], kwargs: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    before = _snapshot(rt)
    db_or_rt = rt.db if entry.__module__.startswith("lib.auth") else rt
    with pytest.raises(PermissionDenied) as refused:
        entry(db_or_rt, actor=VIEWER, **kwargs(world))
    assert refused.value.message.startswith("vera@corp.example is a viewer: ")
    assert "Nothing was changed" in refused.value.message
    assert _snapshot(rt) == before


def test_every_entry_point_that_takes_an_actor_is_in_the_list() -> None:
    listed = {f"{f.__module__}.{f.__name__}" for f, _ in ENTRY_POINTS}
    found = {
        f"{m.__name__}.{name}"
        for m in GUARDED_MODULES
        for name, f in inspect.getmembers(m, inspect.isfunction)
        if f.__module__ == m.__name__
        and not name.startswith("_")
        and inspect.signature(f).parameters.get("actor", None) is not None
        and inspect.signature(f).parameters["actor"].kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert found - NOT_ENTRY_POINTS == listed, "an entry point is missing from ENTRY_POINTS (or listed but gone)"
    assert len(found) >= 25


def test_a_reviewer_reviews_but_may_not_publish_and_a_publisher_publishes(rt: Runtime, world: dict[str, Any]) -> None:
    reviewer = Actor("rita", Role.REVIEWER)
    publisher = Actor("paul", Role.PUBLISHER, email="paul@corp.example")
    assets = world["assets"]
    assert actions.set_review(rt, actor=reviewer, asset_ids=assets, state="approved") == len(assets)
    with pytest.raises(PermissionDenied, match="rita is a reviewer: publishing to the store needs the publisher"):
        actions.queue_publish(rt, actor=reviewer, job_id=world["job"], asset_ids=assets, role="featured")
    actions.queue_publish(rt, actor=publisher, job_id=world["job"], asset_ids=assets, role="featured")
    run_until_idle(rt)  # the worker publishes in the launcher's name
    with rt.db.session() as s:
        pubs = s.exec(select(Publication).where(col(Publication.asset_id).in_(assets))).all()
    assert sorted(p.state for p in pubs) == ["done"] * len(assets)
    people = audit.asset_people(rt.db, assets)
    assert {(p.approved_by, p.published_by) for p in people.values()} == {("rita", "paul@corp.example")}
    actions.queue_rollback(rt, actor=publisher, job_id=world["job"])
    run_until_idle(rt)
    assert {p.published_by for p in audit.asset_people(rt.db, assets).values()} == {None}


def test_the_job_audit_says_who_did_what_and_exports_as_safe_csv(rt: Runtime, world: dict[str, Any]) -> None:
    mallory = Actor("=HYPERLINK(1)", Role.REVIEWER)  # a name a spreadsheet would run
    actions.set_alt_text(rt, actor=mallory, asset_id=world["assets"][0], text="-2+3 cmd|' /C calc'!A0")
    actions.retry_failed(rt, actor=ADMIN, job_id=world["job"])
    entries = audit.job_entries(rt.db, world["job"])
    assert [(e.actor, e.action) for e in entries] == [
        ("root", "launch"),
        ("=HYPERLINK(1)", "alt text"),
        ("root", "retry"),
    ]
    csv_text = audit.to_csv(entries).decode()
    assert "'=HYPERLINK(1)" in csv_text and ",=" not in csv_text
    import csv
    import io

    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0][:6] == ["at", "person", "email", "role", "signed in via", "action"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_removing_a_connection_is_recorded_with_its_name(rt: Runtime, world: dict[str, Any]) -> None:
    actions.remove_connection(rt, actor=ADMIN, connection_id=world["conn"])
    with rt.db.session() as s:
        assert s.get(Connection, world["conn"]) is None
    last = audit.recent(rt.db, 1)[0]
    assert (last.actor, last.action, last.message) == ("root", "connection removed", "woocommerce “Shop” removed")


# The functions underneath the entry points: pages, their screens and the CLI never call these directly.
RAW = re.compile(
    r"(?<![\w.])(?:jobs\.|publish\.|sku_publish\.|store_jobs\.|upload\.|connections\.|connector\.)?"
    r"(create_job|cancel_job|cancel_item|retry_failed|resume_job|regenerate_item|set_review|approve_all|set_alt_text|"
    r"add_uploads|rename|publish_images|publish_assets|publish_job|publish_to_store|rollback|export_approved|"
    r"queue_publish|queue_rollback|queue_export|choose_folder|"
    r"activate|delete_connection|save_woocommerce|save_drive|save_connection)\("
)


def _raw_calls(path: Path) -> list[str]:
    found = []
    current_def = ""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        if code.lstrip().startswith("def "):
            current_def = code.lstrip()[4:].split("(", 1)[0]
        if current_def == "_save_connection":  # the CLI's `save` callable, handed to actions.save_connection
            continue
        for m in RAW.finditer(code):
            before = code[: m.start()]
            # inside the `save=`/`change=`/`check=` callable handed to lib/actions, or a definition: allowed
            if "lambda" in before or before.lstrip().startswith("def "):
                continue
            found.append(f"{path.relative_to(path.parents[1]).as_posix()}:{n} calls {m.group(1)}: {line.strip()}")
    return found


def test_pages_screens_and_the_cli_call_only_the_guarded_entry_points() -> None:
    root = Path(__file__).resolve().parents[1]
    paths = [
        *sorted((root / "pages").glob("*.py")),
        *sorted((root / "lib" / "screens").glob("*.py")),
        root / "lib" / "cli.py",
    ]
    assert [p for path in paths for p in _raw_calls(path)] == []


def test_pages_change_state_only_through_their_screen() -> None:
    """Pages import lib.ui and their screen (lib.kinds for names), never lib.actions or what is under it: the
    screens' state-changing methods take the person and call lib/actions."""
    root = Path(__file__).resolve().parents[1]
    allowed = {"lib", "lib.ui", "lib.kinds"}
    for path in sorted((root / "pages").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lib"):
                names = {a.name for a in node.names}
                assert node.module in allowed or node.module.startswith("lib.screens."), (path.name, node.module)
                assert node.module != "lib" or names == {"ui"}, (path.name, names)


def test_the_raw_call_check_sees_a_direct_call(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    bad = tmp_path / "pages" / "x.py"
    bad.write_text(
        "jobs.set_review(db, asset_ids=[1], state='approved')\n"
        "sku_publish.publish_to_store(rt, 1, 'featured')\n"
        "screen.set_review(actor=me, asset_id=1, state='approved')\n"
        "actions.set_review(rt, actor=me, asset_ids=[1], state='approved')\n"
    )
    assert [p.split(" calls ")[1].split(":")[0] for p in _raw_calls(bad)] == ["set_review", "publish_to_store"]
