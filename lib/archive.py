"""The ZIP of a job's approved images, named by SKU, with their alt texts and fidelity verdicts in a CSV beside
them."""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING, Any

from lib.fidelity.records import checks_for
from lib.jobs import approved_assets, job_items
from lib.spreadsheet import csv_text

if TYPE_CHECKING:
    from lib.runtime import Runtime

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(text: str, fallback: str = "image") -> str:
    name = _SAFE.sub("-", text).strip("-.")[:80]
    return name or fallback


def zip_name(asset: Any, product: dict[str, Any], used: set[str]) -> str:
    """'<SKU>[-<variation>]-<n>.<ext>', unique within the archive; the product name stands in for a missing SKU."""
    base = safe_filename(str(product.get("sku") or product.get("name") or f"product-{asset.product_id}"))
    if asset.variation_id:
        var = next((v for v in product.get("variations", ()) if str(v.get("id")) == str(asset.variation_id)), None)
        base += "-" + safe_filename(str((var or {}).get("sku") or asset.variation_id))
    ext = {"image/webp": "webp", "image/png": "png"}.get(asset.mime, "jpg")
    n = 1
    while f"{base}-{n}.{ext}" in used:
        n += 1
    name = f"{base}-{n}.{ext}"
    used.add(name)
    return name


def approved_zip(runtime: Runtime, job_id: int) -> tuple[bytes, int]:
    """A ZIP of the job's approved images named by SKU, and how many images it holds."""
    assets = approved_assets(runtime.db, job_id)
    checks = checks_for(runtime.db, [a.id for a in assets if a.id is not None])
    products = {it.id: it.product for it in job_items(runtime.db, job_id)}
    buf = io.BytesIO()
    used: set[str] = set()
    rows: list[list[str]] = []
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:  # JPEGs do not compress further
        for asset in assets:
            product = products.get(asset.item_id) or {"name": f"product-{asset.product_id}"}
            name = zip_name(asset, product, used)
            zf.writestr(name, runtime.blobs.get(asset.sha256))
            found = checks.get(asset.id) if asset.id is not None else None
            verdict, findings = (found.verdict.value, found.summary) if found else ("not checked", "")
            row = [name, str(product.get("name", "")), str(product.get("sku", "")), asset.alt_text, verdict, findings]
            rows.append(row)
        if rows:  # alt texts and fidelity findings travel with the images, for whoever uploads them by hand
            header = ["file", "product", "sku", "alt_text", "fidelity", "fidelity_findings"]
            zf.writestr("alt-text.csv", csv_text([header, *rows]))
    return buf.getvalue(), len(assets)
