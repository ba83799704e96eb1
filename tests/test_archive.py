"""The ZIP of approved images: names by SKU, unique, with the alt texts beside them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from lib import archive
from lib.config import Settings
from lib.models import Asset, AssetKind, Job, JobItem, ReviewState
from lib.runtime import Runtime


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def test_zip_names_use_the_sku_and_stay_unique() -> None:
    used: set[str] = set()
    product = {"name": "Stoneware Mug", "sku": "GK/MUG 001", "variations": [{"id": "9-1", "sku": "GK-MUG-RED"}]}
    a = SimpleNamespace(product_id="9", variation_id=None, mime="image/jpeg")
    assert archive.zip_name(a, product, used) == "GK-MUG-001-1.jpg"
    assert archive.zip_name(a, product, used) == "GK-MUG-001-2.jpg"
    v = SimpleNamespace(product_id="9", variation_id="9-1", mime="image/webp")
    assert archive.zip_name(v, product, used) == "GK-MUG-001-GK-MUG-RED-1.webp"
    nosku = SimpleNamespace(product_id="3", variation_id=None, mime="image/jpeg")
    assert archive.zip_name(nosku, {"name": "../../etc/passwd"}, used) == "etc-passwd-1.jpg"


def test_approved_zip(rt: Runtime) -> None:
    sha = rt.blobs.put(b"\xff\xd8fake-jpeg")
    with rt.db.transaction() as s:
        job = Job(source_kind="demo", provider="studio", model="studio-v1", style="auto")
        s.add(job)
        s.flush()
        for i, state in enumerate([ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.APPROVED]):
            item = JobItem(
                job_id=job.id, product_id="1", variant_index=i, product={"id": "1", "name": "Mug", "sku": "MUG-1"}
            )
            s.add(item)
            s.flush()
            s.add(
                Asset(
                    sha256=sha,
                    kind=AssetKind.GENERATED,
                    job_id=job.id,
                    item_id=item.id,
                    product_id="1",
                    review_state=state,
                    alt_text=f"Mug {i}",
                )
            )
        job_id = job.id
    data, n = archive.approved_zip(rt, job_id)
    assert n == 2
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["MUG-1-1.jpg", "MUG-1-2.jpg", "alt-text.csv"]
        assert zf.read("MUG-1-1.jpg") == b"\xff\xd8fake-jpeg"
        assert "Mug 2" in zf.read("alt-text.csv").decode()
