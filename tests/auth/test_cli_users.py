"""The CLI acts as a named person: users are added with a password from stdin or a prompt (never an argument),
`--as` takes a registered user's role, and a viewer's command is refused in lib with one sentence."""

from __future__ import annotations

import io
import json

import pytest

from lib import cli, jobs
from lib.auth import audit, users
from lib.runtime import Runtime


def run(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    capsys.readouterr()
    old = cli.sys.stdin
    cli.sys.stdin = io.StringIO(stdin)
    try:
        code = cli.main(list(argv), rt=rt)
    finally:
        cli.sys.stdin = old
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_a_user_with_a_password_from_stdin_and_sign_in(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(rt, capsys, "users", "add", "Rita", "--role", "reviewer", stdin="a long password here\n")
    assert code == 0 and out.strip() == "Added rita as reviewer, with a password."
    assert users.sign_in(rt.db, "rita", "a long password here").role.value == "reviewer"
    who = audit.recent(rt.db, 1)[0]
    assert who.via == "cli" and who.role == "admin"  # the operating-system user, as the local admin


def test_the_password_is_never_an_argument(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["users", "add", "x", "--role", "viewer", "--password", "hunter2hunter2"], rt=rt)
    assert users.get_user(rt.db, "x") is None


def test_as_a_viewer_a_command_is_refused_and_changes_nothing(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    run(rt, capsys, "users", "add", "vera", "--role", "viewer", "--no-password")
    code, _, err = run(rt, capsys, "--as", "vera", "demo", "--products", "1")
    assert code == 2
    assert err.strip() == (
        "error: vera is a viewer: launching jobs or adding products needs the reviewer role or higher. "
        "Nothing was changed; ask an admin if you need it."
    )
    assert jobs.list_jobs(rt.db, page=1, per_page=5)[1] == 0
    code, _, err = run(rt, capsys, "--as", "vera", "users", "add", "eve", "--role", "admin", "--no-password")
    assert code == 2 and "managing users needs the admin role" in err


def test_as_an_unknown_name_is_refused(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(rt, capsys, "--as", "nobody", "jobs")
    assert code == 2 and "There is no user called nobody" in err


def test_a_reviewers_launch_is_recorded_under_their_name(
    rt: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(rt, capsys, "users", "add", "rita", "--role", "reviewer", "--no-password")
    monkeypatch.setenv("IMAGEGECKO_USER", "rita")
    code, out, _ = run(rt, capsys, "--json", "demo", "--products", "1")
    assert code == 0
    job_id = json.loads(out)["job_id"]
    assert [(e.actor, e.action, e.via) for e in audit.job_entries(rt.db, job_id)] == [("rita", "launch", "cli")]


def test_budget_set_and_show(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(rt, capsys, "budget", "set", "25")
    assert code == 0 and "budget deployment: $25.00 a month" in out
    code, out, _ = run(rt, capsys, "--json", "budget", "set", "5", "--person", "rita")
    assert json.loads(out)["budgets"] == {"deployment": 25.0, "user:rita": 5.0}
    code, _, err = run(rt, capsys, "budget", "set", "lots")
    assert code == 2 and "is not an amount in US dollars" in err


def test_as_a_publisher_connecting_a_shopify_shop_is_refused_before_any_secret_is_read(
    rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    run(rt, capsys, "users", "add", "paul", "--role", "publisher", "--no-password")
    code, _, err = run(rt, capsys, "--as", "paul", "connect", "shopify", "--shop", "my-shop.myshopify.com")
    assert code == 2 and "paul is a publisher: " in err and "needs the admin role" in err
    assert [e for e in audit.recent(rt.db) if e.actor == "paul"] == []


def test_a_queued_publish_carries_its_launcher_and_the_worker_publishes_in_their_name(
    rt: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.auth import budgets

    run(rt, capsys, "users", "add", "paul", "--role", "publisher", "--email", "paul@corp.example", "--no-password")
    run(rt, capsys, "users", "add", "rita", "--role", "reviewer", "--no-password")
    code, out, _ = run(rt, capsys, "--json", "--as", "rita", "demo", "--products", "1")
    job_id = json.loads(out)["job_id"]
    run(rt, capsys, "--as", "rita", "approve", "--job", str(job_id), "--all")
    code, _, err = run(rt, capsys, "--as", "rita", "publish", "--job", str(job_id), "--role", "featured")
    assert code == 2 and "rita is a reviewer: publishing to the store needs the publisher role" in err
    code, out, err = run(rt, capsys, "--json", "--as", "paul", "publish", "--job", str(job_id), "--role", "featured")
    assert code == 0, err
    store_job = json.loads(out)["publish_job_id"]
    share = budgets.share(rt.db, store_job)
    assert share is not None and (share.launched_by, share.cap_usd) == ("paul", None)
    assert [(e.actor, e.action) for e in audit.job_entries(rt.db, store_job)] == [("paul", "publish queued")]
    assets = [a.id for e in jobs.gallery(rt.db, job_id) for a in e.assets if a.id is not None]
    people = audit.asset_people(rt.db, assets)
    assert {(p.approved_by, p.published_by) for p in people.values()} == {("rita", "paul@corp.example")}
    code, out, err = run(rt, capsys, "--json", "--as", "paul", "rollback", "--job", str(job_id))
    assert code == 0, err
    assert {p.published_by for p in audit.asset_people(rt.db, assets).values()} == {None}
