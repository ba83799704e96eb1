"""The headless CLI: JSON shapes, and refusals that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib import cli, jobs
from lib.runtime import Runtime
from tests.conftest import ScriptedProvider


def run(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = cli.main(list(argv), rt=rt)
    out, err = capsys.readouterr()
    data = json.loads(out) if "--json" in argv and out.strip() else out
    return code, data, err


def test_demo_runs_a_job_to_completion(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = run(rt, capsys, "--json", "demo", "--products", "2", "--variants", "2", "--style", "oak_table")
    assert code == 0
    assert set(data) == {"job_id", "items", "succeeded", "failed", "assets"}
    assert (data["items"], data["succeeded"], data["failed"]) == (4, 4, 0)
    assert len(data["assets"]) == 4 and all(Path(p).is_file() and Path(p).stat().st_size > 10_000
                                            for p in data["assets"])


def test_generate_then_worker_then_jobs(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    rt.set_provider("studio", ScriptedProvider())
    code, data, _ = run(rt, capsys, "generate", "--source", "demo", "--products", "GK-MUG-001,2",
                        "--provider", "studio", "--variants", "2", "--aspect", "4:5", "--yes", "--json")
    assert code == 0 and data["items"] == 4
    job_id = data["job_id"]
    code, data, _ = run(rt, capsys, "jobs", "--job", str(job_id), "--json")
    assert data["job"]["aspect_ratio"] == "4:5"
    assert [i["status"] for i in data["items"]] == ["queued"] * 4
    assert set(data["items"][0]) >= {"id", "status", "stage", "attempts", "error"}
    code, data, _ = run(rt, capsys, "worker", "--until-idle", "--json")
    assert code == 0 and data["succeeded"] == 4
    code, data, _ = run(rt, capsys, "jobs", "--job", str(job_id), "--json")
    assert [i["status"] for i in data["items"]] == ["succeeded"] * 4
    code, data, _ = run(rt, capsys, "approve", "--job", str(job_id), "--items", str(data["items"][0]["id"]), "--json")
    assert data == {"approved": 1}
    code, data, _ = run(rt, capsys, "jobs", "--json")
    assert data["total"] == 1 and data["jobs"][0]["id"] == job_id


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--source", "demo", "--products", "NOPE-1", "--yes"], "No product with id or SKU NOPE-1"),
        (["generate", "--source", "demo", "--category", "Kitchen"], "Add --yes"),
        (["generate", "--source", "demo", "--variants", "9", "--yes"], "between 1 and 4"),
        (["generate", "--source", "woocommerce", "--yes"], "No woocommerce connection"),
        (["approve", "--job", "42", "--all"], "Job 42 does not exist"),
    ],
)
def test_refusals_print_one_sentence_and_change_nothing(rt: Runtime, capsys: pytest.CaptureFixture[str],
                                                        argv: list[str], message: str) -> None:
    code, _, err = run(rt, capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert jobs.list_jobs(rt.db) == ([], 0)
