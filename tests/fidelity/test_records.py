"""The check in the flow: the worker stores findings for every image, re-tries redrawn ones when the job asks,
"Regenerate flagged" re-runs only flagged images with a correction, and the CLI and the job's CSV carry the
verdict."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path

import pytest

from lib import archive, cli, jobs
from lib.fidelity import Verdict
from lib.fidelity.actions import flagged, regenerate_flagged
from lib.fidelity.records import checks_for
from lib.runtime import Runtime
from lib.sources.demo import DemoSource
from lib.worker import run_until_idle
from tests.fidelity.providers import RedrawingProvider


def _job(rt: Runtime, provider: RedrawingProvider, *, retries: int = 0, n: int = 1) -> int:
    rt.set_provider("studio", provider)
    products = [DemoSource(rt).get_product(pid) for pid in ("1", "13", "14")[:n]]
    spec = jobs.JobSpec(source_kind="demo", style="oak_table", fidelity_retries=retries)
    job = jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in products])
    assert job.id is not None
    run_until_idle(rt)
    return job.id


def _checks(rt: Runtime, job_id: int) -> dict[int, Verdict]:
    items = jobs.job_items(rt.db, job_id)
    found = checks_for(rt.db, [i.result_asset_id for i in items if i.result_asset_id])
    return {i.id: found[i.result_asset_id].verdict for i in items if i.result_asset_id in found}  # type: ignore[misc]


def test_the_worker_stores_a_check_for_every_image(rt: Runtime) -> None:
    job_id = _job(rt, RedrawingProvider(redraw=False))
    assert list(_checks(rt, job_id).values()) == [Verdict.FAITHFUL]


def test_a_redrawn_image_is_retried_once_with_the_finding_as_a_correction(rt: Runtime) -> None:
    provider = RedrawingProvider()
    job_id = _job(rt, provider, retries=1)
    items = jobs.job_items(rt.db, job_id)
    assert len(items) == 2 and items[1].parent_item_id == items[0].id
    verdicts = _checks(rt, job_id)
    assert verdicts[items[0].id] == Verdict.REDRAWN  # type: ignore[index]
    assert verdicts[items[1].id] == Verdict.FAITHFUL  # type: ignore[index]
    assert "Correction: the last image changed the product." in provider.requests[1].prompt


def test_regenerate_flagged_reruns_only_flagged_images_within_the_budget(rt: Runtime) -> None:
    provider = RedrawingProvider()
    job_id = _job(rt, provider, n=2)
    first = jobs.job_items(rt.db, job_id)
    assert [v for v in _checks(rt, job_id).values()] == [Verdict.REDRAWN, Verdict.REDRAWN]
    assert regenerate_flagged(rt, job_id=job_id, max_cost=0.015) == 1  # one re-run fits at 0.01 each
    items = jobs.job_items(rt.db, job_id)
    assert len(items) == len(first) + 1
    assert "Correction:" in items[-1].prompt and items[-1].parent_item_id == first[0].id
    run_until_idle(rt)
    assert len(flagged(rt, job_id=job_id)) == 1  # the re-run came out faithful; the other still waits


def test_cli_and_csv_carry_the_verdict_and_approve_all_skips_redrawn(
    rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = _job(rt, RedrawingProvider())
    assert cli.main(["--json", "jobs", "--job", str(job_id)], rt=rt) == 0
    item = json.loads(capsys.readouterr().out)["items"][0]
    assert item["fidelity"] == "redrawn"
    assert item["findings"] and item["findings"][0]["message"]

    assert cli.main(["--json", "approve", "--job", str(job_id), "--all"], rt=rt) == 0
    assert json.loads(capsys.readouterr().out) == {"approved": 0, "skipped_redrawn": 1}
    assert cli.main(["--json", "approve", "--job", str(job_id), "--all", "--include-redrawn"], rt=rt) == 0
    assert json.loads(capsys.readouterr().out)["approved"] == 1

    data, n = archive.approved_zip(rt, job_id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        rows = zf.read("alt-text.csv").decode().splitlines()
    assert n == 1 and rows[0].endswith("fidelity,fidelity_findings")
    assert ",redrawn," in rows[1]


def test_only_records_writes_the_fidelity_table() -> None:
    """One writer per table: only lib/fidelity/records.py builds, updates or deletes FidelityCheck rows."""
    root = Path(__file__).resolve().parents[2]
    sites = []
    for path in sorted([*(root / "lib").rglob("*.py"), *(root / "pages").rglob("*.py"), root / "app.py"]):
        rel = path.relative_to(root).as_posix()
        if rel == "lib/models.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            first = node.args[0] if node.args else None
            table = first.id if isinstance(first, ast.Name) else None
            if node.func.id == "FidelityCheck" or (
                node.func.id in {"update", "delete", "insert"} and table == "FidelityCheck"
            ):
                sites.append(rel)
    assert sorted(set(sites)) == ["lib/fidelity/records.py"]
