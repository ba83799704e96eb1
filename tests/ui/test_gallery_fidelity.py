"""Gallery and the fidelity check: the verdict and findings on each card, the "needs a look" filter, the zoom on
the flagged part, a confirmation before approving a flagged image, and "Regenerate flagged"."""

from __future__ import annotations

from lib import jobs
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
