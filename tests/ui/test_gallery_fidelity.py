"""Gallery and the fidelity check: the verdict and findings on each card, the "needs a look" filter, the zoom on
the flagged part (the compare dialog, on that part of the photo and of the new picture), a confirmation before
approving a flagged image, and "Regenerate flagged"."""

from __future__ import annotations

from lib import jobs
from lib.fidelity import Check, Verdict
from lib.fidelity import records as fidelity_records
from lib.fidelity.verdict import Finding, Report, Severity
from lib.models import Asset
from tests.fidelity.providers import RedrawingProvider
from tests.ui.conftest import assert_ok, make_job, page


def _job(rt) -> int:
    rt.set_provider("studio", RedrawingProvider(only="Stoneware Mug"))
    return make_job(rt, ["1", "13"])


def test_cards_show_the_verdict_and_the_filter_keeps_flagged_images(home, rt) -> None:
    _job(rt)
    at = page("gallery").run()
    assert_ok(at)
    badges = " ".join(m.value for m in at.markdown if "-badge[" in m.value)
    assert ":red-badge[:material/report: Redrawn]" in badges and ":green-badge[:material/verified: Faithful]" in badges
    assert any("could not be found" in c.value or "in the photo" in c.value for c in at.caption)
    at.segmented_control(key="gallery_filter").set_value("flagged").run()
    assert_ok(at)
    assert [m.value for m in at.markdown if m.value.startswith("####")] == ["#### Stoneware Mug"]


def test_approving_a_flagged_image_asks_once(home, rt) -> None:
    job_id = _job(rt)
    mug = next(i for i in jobs.job_items(rt.db, job_id) if i.product_id == "1")
    at = page("gallery").run()
    at.button(key=f"gallery_ok_{mug.result_asset_id}").click().run()
    assert_ok(at)
    assert any("Click Approve again" in w.value for w in at.warning)
    assert _state(rt, mug.result_asset_id) == "pending"
    at.button(key=f"gallery_ok_{mug.result_asset_id}").click().run()
    assert _state(rt, mug.result_asset_id) == "approved"


def _state(rt, asset_id: int) -> str:
    with rt.db.session() as s:
        return s.get(Asset, asset_id).review_state


def test_regenerate_flagged_remakes_only_the_flagged_image(home, rt) -> None:
    job_id = _job(rt)
    at = page("gallery").run()
    assert at.button(key="gallery_regen_flagged").label == "Regenerate flagged (1)"
    at.button(key="gallery_regen_flagged").click().run()
    assert_ok(at)
    items = jobs.job_items(rt.db, job_id)
    assert len(items) == 3 and items[-1].product_id == "1" and "Correction:" in items[-1].prompt


def test_zoom_on_a_flagged_part_opens_the_compare_on_that_part_of_both_pictures(home, rt) -> None:
    job_id = make_job(rt, ["1"])
    [item] = jobs.job_items(rt.db, job_id)
    # A stored verdict flagging a small part: where it is in the new picture, and where on the product in the photo.
    spot = Finding(
        Check.COLOUR, Severity.MAJOR, "The product at the bottom is red in the photo, teal here.", score=2.0,
        region=(0.40, 0.50, 0.50, 0.60), data={"source_region": [0.10, 0.10, 0.20, 0.20]},
    )  # fmt: skip
    report = Report(Verdict.REDRAWN, (spot,), {})
    fidelity_records.record(rt.db, asset_id=item.result_asset_id, job_id=job_id, report=report)
    at = page("gallery").run()
    at.button(key=f"gallery_zoom_{item.result_asset_id}").click().run()
    assert_ok(at)
    [dialog] = at.get("dialog")
    assert at.segmented_control(key="gallery_cmp_zoom").value == 4  # zoomed in on the flagged part
    captions = " ".join(c.value for c in dialog.caption)
    assert "The flagged part of the product in each picture" in captions
    assert len(dialog.get("image")) == 2
    at.slider(key="gallery_cmp_x").set_value(80).run()  # moved away: both pictures cut at the same place
    [dialog] = at.get("dialog")
    assert "The same part of both pictures, 4× closer: 80 % across" in " ".join(c.value for c in dialog.caption)
