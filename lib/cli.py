"""Headless ImageGecko: `python -m lib.cli <command> [--json]`.

    demo       make a job on the demo catalogue with the studio engine and run it to completion
    generate   queue a job on a source (demo, woocommerce, drive, upload)
    worker     run the queue (until idle with --until-idle)
    jobs       list jobs, or one job's items
    approve    approve a job's images (all, or --items)
    reject     reject some of a job's images (--items)
    publish    publish a job's approved images (or --items) to its store (Drive and upload jobs: by SKU)
    rollback   restore the products' image lists from before publishing
    export     save a job's approved images to Google Drive (again: nothing is uploaded twice)
    cancel / retry / resume   job actions
    connect    save a WooCommerce store, a Shopify shop, a Gemini key or a Google Drive folder (encrypted)
    users      list, add, change or remove users (passwords from a prompt or stdin, never an argument)
    budget     show spend, set monthly budgets, raise a paused job's share

Every command acts as a person: `--as NAME` (or IMAGEGECKO_USER) names a registered user and takes that user's
role; without it, the operating-system user, as the local admin unless registered with another role.

Errors print one plain sentence and exit with status 2; nothing is changed by a refused command.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from lib import actions, jobs, publish, store_jobs
from lib.auth import budgets, users
from lib.auth.roles import Actor
from lib.config import Settings
from lib.connections import get_connection
from lib.connectors import registry
from lib.connectors.providers import GeminiForm
from lib.connectors.shopify import ShopifyForm
from lib.connectors.sources import DriveForm, WooForm
from lib.errors import AppError, InputError
from lib.fidelity import records as fidelity_records
from lib.formatting import fmt_cost
from lib.generation.base import ASPECT_RATIOS
from lib.kinds import PROVIDERS as PROVIDER_KINDS
from lib.kinds import SOURCES as SOURCE_KINDS
from lib.kinds import Kind
from lib.models import Connection, ItemStatus, Job, JobItem
from lib.runtime import Runtime
from lib.sku_match import SkuHit, pick
from lib.sources.base import Product, ProductQuery, ProductSource
from lib.worker import Worker, run_until_idle


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _all_products(source: ProductSource, query: ProductQuery) -> Iterator[Product]:
    page = 1
    while True:
        result = source.list_products(
            ProductQuery(
                search=query.search, category=query.category, stock_status=query.stock_status, page=page, per_page=100
            )
        )
        yield from result.items
        if page >= result.pages or not result.items:
            return
        page += 1


def _select(source: ProductSource, wanted: list[str], category: str, limit: int | None) -> list[jobs.Selection]:
    """Products by id or SKU (or all of a category), at most `limit` products; a variable product contributes
    each of its variations (all of them: the limit counts products, not items). A SKU may be a product's or a
    variation's and is matched as the store matches it: ignoring case, the exact spelling preferred; an ambiguous
    one is refused in a sentence."""
    if not wanted:
        selections: list[jobs.Selection] = []
        for n, product in enumerate(_all_products(source, ProductQuery(category=category))):
            if limit and n >= limit:
                break
            if product.variations:
                selections.extend(jobs.Selection(product, v.id) for v in product.variations)
            else:
                selections.append(jobs.Selection(product))
        if not selections:
            raise InputError("No products match.")
        return selections
    catalogue = list(_all_products(source, ProductQuery(category=category)))
    hits: list[tuple[SkuHit, Product]] = []
    for product in catalogue:
        hits.append((SkuHit(product.id, None, product.name, product.sku), product))
        hits.extend(
            (SkuHit(product.id, v.id, f"{product.name} - {v.name}", v.sku), product) for v in product.variations
        )
    chosen: dict[str, set[str | None]] = {}  # product id -> variation ids (None: the whole product)
    missing = []
    for key in wanted:
        hit = next((h for h, _ in hits if (h.variation_id or h.product_id) == key), None)  # an id first
        hit = hit or pick(key, (h for h, _ in hits if h.sku), where="this source")
        if hit is None:
            missing.append(key)
            continue
        chosen.setdefault(hit.product_id, set()).add(hit.variation_id)
    if missing:
        raise InputError(f"No product with id or SKU {', '.join(missing)} in this source.")
    selections = []
    products = {h.product_id: p for h, p in hits}
    for product_id, variation_ids in list(chosen.items())[: limit or None]:
        product = products[product_id]
        if None in variation_ids and product.variations:
            selections.extend(jobs.Selection(product, v.id) for v in product.variations)
        elif None in variation_ids:
            selections.append(jobs.Selection(product))
        else:
            selections.extend(jobs.Selection(product, v.id) for v in product.variations if v.id in variation_ids)
    return selections


def _job_dict(job: Job) -> dict[str, Any]:
    return job.model_dump(mode="json")


def _item_dict(item: JobItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "product_id": item.product_id,
        "variation_id": item.variation_id,
        "variant": item.variant_index,
        "status": item.status,
        "stage": item.stage,
        "attempts": item.attempts,
        "error": item.error_message,
        "latency_ms": item.latency_ms,
        "cost": item.cost,
        "asset_id": item.result_asset_id,
    }


def _fidelity_dict(found: fidelity_records.StoredCheck | None) -> dict[str, Any]:
    if found is None:
        return {"fidelity": None, "findings": []}
    return {"fidelity": found.verdict.value, "findings": [f.to_json() for f in found.findings]}


def _spec(args: argparse.Namespace, source_kind: str) -> jobs.JobSpec:
    provider = getattr(args, "provider", Kind.STUDIO)
    model = getattr(args, "model", None) or (jobs.STUDIO_MODEL if provider == Kind.STUDIO else "gemini-2.5-flash-image")
    return jobs.JobSpec(
        source_kind=source_kind,
        connection_id=getattr(args, "connection", None),
        provider=provider,
        model=model,
        style=args.style,
        prompt_extra=getattr(args, "prompt", "") or "",
        aspect_ratio=args.aspect,
        output_size=getattr(args, "size", 1024),
        variants=args.variants,
        mode=getattr(args, "mode", "online"),
        use_reference=getattr(args, "reference", False),
        fidelity_retries=getattr(args, "retry_redrawn", 0),
    )


# Commands -----------------------------------------------------------------------------------


def cmd_demo(rt: Runtime, args: argparse.Namespace) -> int:
    source = rt.source(Kind.DEMO)
    selections = _select(source, [], "", args.products)
    job = actions.launch(rt, actor=args.actor, spec=_spec(args, Kind.DEMO), selections=selections)
    assert job.id is not None
    run_until_idle(rt, concurrency=args.concurrency, job_id=job.id)  # this job only: other queued jobs stay queued
    items = jobs.job_items(rt.db, job.id)
    assets = [a for entry in jobs.gallery(rt.db, job.id) for a in entry.assets]
    paths = [rt.blobs.uri(a.sha256) for a in assets]
    data: dict[str, Any] = {
        "job_id": job.id,
        "items": len(items),
        "succeeded": sum(i.status == "succeeded" for i in items),
        "failed": sum(i.status == "failed" for i in items),
        "assets": paths,
    }
    _out(
        args,
        data,
        f"Job {job.id}: {data['succeeded']}/{data['items']} images made, {data['failed']} failed.\n" + "\n".join(paths),
    )
    return 0 if data["failed"] == 0 else 1


def cmd_generate(rt: Runtime, args: argparse.Namespace) -> int:
    spec = _spec(args, args.source)
    source = rt.source(args.source, args.connection)
    wanted = [p.strip() for p in (args.products or "").split(",") if p.strip()]
    selections = _select(source, wanted, args.category or "", args.limit)
    if args.mode == "auto":  # as the Generate page's batch toggle defaults
        spec = replace(spec, mode=jobs.suggested_mode(rt, spec.provider, len(selections) * spec.variants))
    cost = jobs.estimate_cost(rt, spec, len(selections))
    if not args.yes:
        raise InputError(
            f"This makes {len(selections) * spec.variants} images (estimated cost: {fmt_cost(cost)}). Add --yes to "
            "queue it."
        )
    job = actions.launch(rt, actor=args.actor, spec=spec, selections=selections)
    _out(
        args,
        {"job_id": job.id, "items": job.item_count, "mode": job.mode, "estimated_cost": job.estimated_cost},
        f"Queued job {job.id}: {job.item_count} items ({job.mode}), estimated cost: {fmt_cost(job.estimated_cost)}.",
    )
    return 0


def cmd_worker(rt: Runtime, args: argparse.Namespace) -> int:
    stats = Worker(rt, concurrency=args.concurrency).run(until_idle=args.until_idle)
    _out(args, stats.as_dict(), " ".join(f"{k}={v}" for k, v in stats.as_dict().items()))
    return 0


def cmd_jobs(rt: Runtime, args: argparse.Namespace) -> int:
    if args.job:
        job = jobs.get_job(rt.db, args.job)
        items = jobs.job_items(rt.db, args.job)
        lines = [f"Job {job.id} [{job.status}] {job.source_kind} · {job.provider}/{job.model} · {job.style}"]
        lines += [
            f"  item {i.id}: {i.status}{' (' + i.stage + ')' if i.stage else ''} attempts={i.attempts}"
            f"{' — ' + i.error_message if i.error_message else ''}"
            for i in items
        ]
        checks = fidelity_records.checks_for(rt.db, [i.result_asset_id for i in items if i.result_asset_id])
        lines += [
            f"  item {i.id} fidelity: {c.verdict.label} — {c.summary}"
            for i in items
            if i.result_asset_id and (c := checks.get(i.result_asset_id)) is not None and c.flagged
        ]
        item_dicts = [_item_dict(i) | _fidelity_dict(checks.get(i.result_asset_id or -1)) for i in items]
        _out(args, {"job": _job_dict(job), "items": item_dicts}, "\n".join(lines))
        return 0
    rows, total = jobs.list_jobs(rt.db, page=args.page, per_page=args.per_page)
    _out(
        args,
        {"total": total, "jobs": [_job_dict(j) for j in rows]},
        "\n".join(
            f"{j.id:>5} {j.status:<10} {j.item_count:>4} items  {j.source_kind:<12} {j.provider}/{j.model}"
            f"  {j.created_at:%Y-%m-%d %H:%M}"
            for j in rows
        )
        or "No jobs yet.",
    )
    return 0


def _items(rt: Runtime, job_id: int, items: str) -> list[JobItem]:
    """Some items of a job (`--items 3,4`); refuses ids that are not in the job."""
    try:
        wanted = {int(x) for x in items.split(",") if x.strip()}
    except ValueError as exc:
        raise InputError("Give item ids as numbers separated by commas, like --items 3,4.") from exc
    found = [i for i in jobs.job_items(rt.db, job_id) if i.id in wanted]
    if len(found) != len(wanted) or not wanted:
        raise InputError(f"Some of those items are not in job {job_id}. `jobs --job {job_id}` lists its items.")
    return found


def _item_assets(rt: Runtime, job_id: int, items: str) -> list[int]:
    """The result images of some items of a job."""
    return [i.result_asset_id for i in _items(rt, job_id, items) if i.result_asset_id]


def cmd_approve(rt: Runtime, args: argparse.Namespace) -> int:
    jobs.get_job(rt.db, args.job)
    if args.all:
        # Images the fidelity check says were redrawn wait for a person unless asked otherwise.
        skip = [] if args.include_redrawn else fidelity_records.redrawn_assets(rt.db, job_id=args.job)
        n = actions.approve_all(rt, actor=args.actor, job_id=args.job, skip=skip)
        left = len(skip)
        note = f" Left {left} redrawn images for a look (--include-redrawn approves them too)." if left else ""
        _out(args, {"approved": n, "skipped_redrawn": left}, f"Approved {n} images.{note}")
        return 0
    n = actions.set_review(rt, actor=args.actor, asset_ids=_item_assets(rt, args.job, args.items), state="approved")
    _out(args, {"approved": n}, f"Approved {n} images.")
    return 0


def cmd_reject(rt: Runtime, args: argparse.Namespace) -> int:
    jobs.get_job(rt.db, args.job)
    n = actions.set_review(rt, actor=args.actor, asset_ids=_item_assets(rt, args.job, args.items), state="rejected")
    _out(args, {"rejected": n}, f"Rejected {n} images.")
    return 0


def _wait_for(rt: Runtime, job_id: int) -> None:
    """Run a queued store job to its end in this process (a worker elsewhere may take some of its items too)."""
    from lib.worker import run_until_idle

    run_until_idle(rt, job_id=job_id)


def cmd_publish(rt: Runtime, args: argparse.Namespace) -> int:
    job = jobs.get_job(rt.db, args.job)
    keep = not args.drop_old_featured
    store_kind: str | None = None
    if job.source_kind in publish.NOT_STORES:  # Drive and uploads are no store: images go where the SKU matches
        store_kind = args.store
        if args.connection is not None and get_connection(rt.db, args.connection).kind in (
            Kind.WOOCOMMERCE,
            Kind.SHOPIFY,
        ):
            store_kind = get_connection(rt.db, args.connection).kind  # else publish says it is no store
    elif args.connection is not None:
        raise InputError(
            "--connection is only for Drive and upload jobs, whose images go to the store product with the "
            f"same SKU; job {args.job} publishes to the store its photos came from."
        )
    item_ids = [i.id for i in _items(rt, args.job, args.items) if i.id is not None] if args.items else None
    queued = actions.queue_publish(
        rt,
        actor=args.actor,
        job_id=args.job,
        role=args.role,
        keep_old_featured=keep,
        item_ids=item_ids,
        store_kind=store_kind,
        connection_id=args.connection,
    )
    assert queued.id is not None
    skipped = list(queued.options.get("skipped") or [])
    if not args.wait:
        _out(
            args,
            {"publish_job_id": queued.id, "skipped": skipped, "unmatched": skipped},
            f"Queued publishing job {queued.id} ({queued.item_count} products); the worker publishes it. "
            f"Follow it with `jobs --job {queued.id}`."
            + "".join(f"\n  not published: {sentence}" for sentence in skipped),
        )
        return 0
    _wait_for(rt, queued.id)
    report = store_jobs.report(rt, queued.id)
    pubs = report.publications
    labels = publish.publication_labels(rt.db, pubs)
    data = [
        {
            "id": p.id,
            "product_id": p.product_id,
            "variation_id": p.variation_id,
            "label": labels.get(p.id or 0),
            "role": p.role,
            "state": p.state,
            "store": p.store_kind,
            "connection_id": p.connection_id,
            "media_id": p.remote_media_id,
            "error": p.error,
        }
        for p in pubs
    ]
    failed = [p for p in pubs if p.state != "done"]
    _out(
        args,
        {"publish_job_id": queued.id, "publications": data, "unmatched": skipped, "skipped": skipped},
        f"Published {len(pubs) - len(failed)} images; {len(failed)} failed (publishing job {queued.id})."
        + "".join(f"\n  {labels.get(p.id or 0)}: {p.error}" for p in failed)
        + "".join(f"\n  not published: {sentence}" for sentence in skipped),
    )
    return 1 if failed or skipped or report.failures else 0


def cmd_rollback(rt: Runtime, args: argparse.Namespace) -> int:
    products = [p.strip() for p in (args.products or "").split(",") if p.strip()] or None
    queued = actions.queue_rollback(rt, actor=args.actor, job_id=args.job, product_ids=products, force=args.force)
    assert queued.id is not None
    if not args.wait:
        _out(
            args,
            {"rollback_job_id": queued.id},
            f"Queued rollback job {queued.id} ({queued.item_count} products). Follow it with `jobs --job {queued.id}`.",
        )
        return 0
    _wait_for(rt, queued.id)
    items = jobs.job_items(rt.db, queued.id)
    restored = [i.product_id for i in items if i.status == ItemStatus.SUCCEEDED]
    conflicts = [i for i in items if i.status == ItemStatus.FAILED and i.error_kind == "PublishConflict"]
    errors = [i for i in items if i.status == ItemStatus.FAILED and i.error_kind != "PublishConflict"]
    data = {
        "rollback_job_id": queued.id,
        "restored": restored,
        "conflicts": [{"product_id": i.product_id, "message": i.error_message} for i in conflicts],
        "errors": [{"product_id": i.product_id, "message": i.error_message} for i in errors],
    }
    _out(
        args,
        data,
        f"Restored {len(restored)} products."
        + "".join(f"\n  {i.error_message} (use --force to overwrite)" for i in conflicts)
        + "".join(f"\n  {i.error_message}" for i in errors),
    )
    return 1 if conflicts or errors else 0


def cmd_export(rt: Runtime, args: argparse.Namespace) -> int:
    results = actions.export(
        rt, actor=args.actor, job_id=args.job, folder_id=args.folder, connection_id=args.connection
    )
    if not results:
        raise InputError(
            f"Job {args.job} has no approved images to export. Approve some first (approve --job {args.job} --all)."
        )
    made = sum(r.created for r in results)
    data = {
        "created": made,
        "already_there": len(results) - made,
        "files": [
            {
                "asset_id": r.asset_id,
                "file_id": r.file_id,
                "name": r.name,
                "folder_id": r.folder_id,
                "created": r.created,
                "link": r.web_view_link,
            }
            for r in results
        ],
    }
    _out(
        args,
        data,
        f"Exported {made} images to Drive; {len(results) - made} were already there."
        + "".join(f"\n  {r.name}{'' if r.created else ' (already there)'}" for r in results),
    )
    return 0


def cmd_cancel(rt: Runtime, args: argparse.Namespace) -> int:
    n = actions.cancel_job(rt, actor=args.actor, job_id=args.job)
    _out(args, {"cancelled_items": n}, f"Cancelled job {args.job} ({n} items).")
    return 0


def cmd_retry(rt: Runtime, args: argparse.Namespace) -> int:
    n = actions.retry_failed(rt, actor=args.actor, job_id=args.job)
    _out(args, {"requeued": n}, f"Requeued {n} failed items.")
    return 0


def cmd_resume(rt: Runtime, args: argparse.Namespace) -> int:
    actions.resume_job(rt, actor=args.actor, job_id=args.job)
    _out(args, {"resumed": args.job}, f"Resumed job {args.job}.")
    return 0


def refuse_secret_arguments(args: argparse.Namespace) -> None:
    given = sorted(
        "--" + k.removeprefix("secret_arg_").replace("_", "-")
        for k, v in vars(args).items()
        if k.startswith("secret_arg_") and v is not None
    )
    if given:
        raise InputError(
            f"{', '.join(given)} would put a secret on the command line, where every user of this machine can read "
            "it, so it is not accepted. Set it in the environment, pipe it on standard input, or type it when asked."
        )


def read_secret_input(label: str, env: str) -> str:
    """A secret from the environment variable `env`, else one line of standard input when it is not a terminal (a
    pipe or a file), else a prompt that does not echo."""
    value = os.environ.get(env)
    if value is None:
        if sys.stdin is not None and not sys.stdin.isatty():
            value = sys.stdin.readline().rstrip("\r\n")
        else:
            value = getpass.getpass(f"{label}: ")
    value = value.strip()
    if not value:
        raise InputError(f"No {label} was given (set {env}, pipe it on standard input, or type it when asked).")
    return value


def cmd_connect(rt: Runtime, args: argparse.Namespace) -> int:
    kind = Kind.parse(args.kind, "connection kind")
    conn = actions.save_connection(rt, actor=args.actor, kind=kind, save=lambda: _save_connection(rt, args, kind))
    _out(
        args,
        {"connection_id": conn.id, "kind": conn.kind, "name": conn.name},
        f"Saved {conn.kind} connection {conn.id} ({conn.name}); it is now active.",
    )
    return 0


def _save_connection(rt: Runtime, args: argparse.Namespace, kind: Kind) -> Connection:
    """Read the secrets, test them and save: run by actions.save_connection once the role allows it."""
    form: WooForm | GeminiForm | DriveForm | ShopifyForm
    if kind == Kind.WOOCOMMERCE:
        form = WooForm(
            base_url=args.url,
            consumer_key=read_secret_input("WooCommerce consumer key", "WOOCOMMERCE_CONSUMER_KEY"),
            consumer_secret=read_secret_input("WooCommerce consumer secret", "WOOCOMMERCE_CONSUMER_SECRET"),
            wp_user=args.wp_user,
            app_password=read_secret_input("WordPress Application Password", "WP_APP_PASSWORD"),
            name=args.name or "",
        )
    elif kind == Kind.GEMINI:
        form = GeminiForm(api_key=read_secret_input("Gemini API key", "GEMINI_API_KEY"), name=args.name or "Gemini")
    elif kind == Kind.SHOPIFY:
        secret_name = ("Shopify client secret", "SHOPIFY_CLIENT_SECRET")
        token_name = ("Shopify Admin API access token", "SHOPIFY_ACCESS_TOKEN")
        form = ShopifyForm(
            shop=args.shop,
            access_token="" if args.client_id else read_secret_input(*token_name),
            client_id=args.client_id or "",
            client_secret=read_secret_input(*secret_name) if args.client_id else "",
            name=args.name or "",
        )
    else:
        creds = Path(args.credentials).read_text(encoding="utf-8")
        form = DriveForm(credentials_json=creds, root_folder_id=args.folder, mode=args.mode, name=args.name or "")
    connector = registry.connector(kind)
    if not args.skip_check and kind != Kind.DRIVE:  # Drive is tested once saved: the test lists the folder
        failed = [c for c in connector.check_form(rt, form) if not c.ok]
        if failed:
            raise InputError(
                "The connection check failed: " + " ".join(f"{c.label}: {c.detail} {c.advice}".strip() for c in failed)
            )
    return connector.save(rt, form=form)


def _new_password(args: argparse.Namespace) -> str:
    """From a prompt (twice, not echoed) at a terminal, else the first line of stdin. Never an argument."""
    if sys.stdin.isatty() and not args.password_stdin:
        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            raise InputError("The two passwords differ. Nothing was changed.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users(rt: Runtime, args: argparse.Namespace) -> int:
    actor: Actor = args.actor
    if args.action == "list":
        rows = users.list_users(rt.db)
        data = [{"name": u.name, "email": u.email, "role": u.role, "password": bool(u.password_hash)} for u in rows]
        _out(
            args,
            data,
            "\n".join(
                f"{u['name']:<20} {u['role']:<10} {u['email'] or '':<30} {'password' if u['password'] else ''}"
                for u in data
            )
            or "No users yet: the app signs nobody in, and serves this computer only.",
        )
        return 0
    if args.action == "add":
        password = None if args.no_password else _new_password(args)
        users.add_user(rt.db, actor=actor, name=args.name, role=args.role, email=args.email, password=password)
        text = f"Added {args.name.lower()} as {args.role}" + ("" if password is None else ", with a password") + "."
    elif args.action == "passwd":
        users.set_password(rt.db, actor=actor, name=args.name, password=_new_password(args))
        text = f"Password of {args.name.lower()} set."
    elif args.action == "role":
        users.set_role(rt.db, actor=actor, name=args.name, role=args.role)
        text = f"{args.name.lower()} is now {args.role}."
    else:
        users.remove_user(rt.db, actor=actor, name=args.name)
        text = f"Removed {args.name.lower()}."
    _out(args, {"ok": True, "user": args.name.lower()}, text)
    return 0


def _usd_or_none(value: str) -> float | None:
    if value.strip().lower() in {"none", "off", "unlimited"}:
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{value!r} is not an amount in US dollars (or none).") from None


def cmd_budget(rt: Runtime, args: argparse.Namespace) -> int:
    if args.action == "set":
        budgets.set_budget(rt.db, actor=args.actor, monthly_usd=_usd_or_none(args.usd), person=args.person)
    elif args.action == "share":
        budgets.raise_job_share(rt.db, actor=args.actor, job_id=args.job, cap_usd=_usd_or_none(args.usd))
    limits = budgets.budgets(rt.db)
    spend = budgets.spend_by_person(rt.db)
    data = {"budgets": limits, "spend": [vars(r) for r in spend]}
    lines = [f"budget {scope}: {budgets.usd(v)} a month" for scope, v in sorted(limits.items())] or ["No budgets set."]
    lines += [f"{r.month} {r.person:<30} {r.jobs:>4} jobs {budgets.usd(r.spent):>10}" for r in spend]
    _out(args, data, "\n".join(lines))
    return 0


# Parser -------------------------------------------------------------------------------------


def _job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--style", default="auto", help="preset key, or auto = each product's category default")
    p.add_argument("--variants", type=int, default=1)
    p.add_argument("--aspect", default="1:1", choices=ASPECT_RATIOS)
    p.add_argument(
        "--retry-redrawn",
        type=int,
        default=0,
        metavar="N",
        help="re-try images flagged as redrawn, up to N times (0-3)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib.cli", description="ImageGecko Studio, headless.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--as", dest="as_user", default=None, help="act as this registered user (default: IMAGEGECKO_USER, else you)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
        return p

    p = add("demo", "run a job on the demo catalogue with the studio engine")
    p.add_argument("--products", type=int, default=3, help="how many demo products")
    p.add_argument("--concurrency", type=int, default=None)
    _job_options(p)

    p = add("generate", "queue a job")
    p.add_argument("--source", required=True, choices=[k.value for k in SOURCE_KINDS])
    p.add_argument("--connection", type=int, default=None, help="connection id (default: the active one)")
    p.add_argument("--products", help="comma-separated product ids or SKUs")
    p.add_argument("--category", help="category name (demo), id (woocommerce) or collection (shopify)")
    p.add_argument("--limit", type=int, default=None, help="at most this many products")
    p.add_argument("--provider", default=Kind.STUDIO.value, choices=[k.value for k in PROVIDER_KINDS])
    p.add_argument("--model", default=None)
    p.add_argument("--prompt", default="", help="extra prompt text")
    p.add_argument("--size", type=int, default=1024, choices=[1024, 2048, 4096])
    p.add_argument(
        "--mode",
        default="auto",
        choices=["auto", "online", "batch"],
        help="auto (default): the Batch API for Gemini jobs of at least BATCH_THRESHOLD images "
        f"(default {Settings.model_fields['batch_threshold'].default}), else online",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="Gemini: send variants after the first the product's first approved image, so its shots "
        "stay alike (once one is approved)",
    )
    p.add_argument("--yes", action="store_true", help="confirm (the cost estimate is printed without it)")
    _job_options(p)

    p = add("worker", "run the queue")
    p.add_argument("--until-idle", action="store_true")
    p.add_argument("--concurrency", type=int, default=None)

    p = add("jobs", "list jobs or show one")
    p.add_argument("--job", type=int)
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--per-page", type=int, default=20)

    p = add("approve", "approve generated images")
    p.add_argument("--job", type=int, required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--all", action="store_true")
    group.add_argument("--items", help="comma-separated item ids")
    p.add_argument(
        "--include-redrawn", action="store_true", help="with --all: approve images the fidelity check calls redrawn too"
    )

    p = add("reject", "reject generated images (they are never published)")
    p.add_argument("--job", type=int, required=True)
    p.add_argument("--items", required=True, help="comma-separated item ids")

    p = add("publish", "publish a job's approved images")
    p.add_argument("--job", type=int, required=True)
    p.add_argument("--role", required=True, choices=["featured", "gallery", "variation"])
    p.add_argument("--items", default=None, help="comma-separated item ids (default: every approved image)")
    p.add_argument("--drop-old-featured", action="store_true", help="do not keep the old featured image")
    p.add_argument(
        "--connection",
        type=int,
        default=None,
        help="Drive and upload jobs: the store connection id to publish to, matching products by SKU "
        "(default: the active store of --store)",
    )
    p.add_argument(
        "--store",
        default="woocommerce",
        choices=["woocommerce", "shopify"],
        help="Drive and upload jobs: publish to the active WooCommerce store or Shopify shop (default woocommerce)",
    )

    p.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the publishing job to its end here and report (default); --no-wait queues it for the worker",
    )

    p = add("rollback", "restore image lists from before publishing")
    p.add_argument("--job", type=int, required=True)
    p.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the rollback job to its end here and report (default); --no-wait queues it for the worker",
    )
    p.add_argument("--products", help="comma-separated product ids (default: all of the job)")
    p.add_argument("--force", action="store_true", help="overwrite even if the images changed since")

    p = add("export", "save a job's approved images to Google Drive")
    p.add_argument("--job", type=int, required=True)
    p.add_argument(
        "--folder",
        default=None,
        help="Drive folder id (default: a `generated` folder beside each original photo; "
        "required for jobs whose photos did not come from Drive)",
    )
    p.add_argument(
        "--connection", type=int, default=None, help="Drive connection id (default: the job's own, else the active one)"
    )

    for name, help_text in (
        ("cancel", "cancel a job"),
        ("retry", "retry a job's failed items"),
        ("resume", "resume a paused job"),
    ):
        add(name, help_text).add_argument("--job", type=int, required=True)

    p = add("connect", "save a connection (encrypted)")
    kinds = p.add_subparsers(dest="kind", required=True)
    secrets_help = (
        "Secrets are read from the environment ({}), else from standard input one per line when it is not a "
        "terminal, else asked for without echo. They are never taken as arguments: every user of this machine can "
        "read a command line."
    )
    w = kinds.add_parser(
        "woocommerce",
        epilog=secrets_help.format("WOOCOMMERCE_CONSUMER_KEY, WOOCOMMERCE_CONSUMER_SECRET, WP_APP_PASSWORD"),
    )
    for flag in ("--url", "--wp-user"):
        w.add_argument(flag, required=True)
    g = kinds.add_parser("gemini", epilog=secrets_help.format("GEMINI_API_KEY"))
    for k, flags in ((w, ("--key", "--secret", "--app-password")), (g, ("--api-key",))):
        for flag in flags:  # accepted only to refuse them with a sentence (see refuse_secret_arguments)
            k.add_argument(flag, dest=f"secret_arg_{flag.strip('-').replace('-', '_')}", help=argparse.SUPPRESS)
    sh = kinds.add_parser(
        "shopify",
        epilog=secrets_help.format("SHOPIFY_ACCESS_TOKEN, or SHOPIFY_CLIENT_SECRET with --client-id"),
    )
    sh.add_argument("--shop", required=True, help="my-shop.myshopify.com")
    sh.add_argument("--client-id", default=None, help="a Dev Dashboard app's client id (else an Admin API token)")
    for flag in ("--token", "--access-token", "--client-secret"):
        sh.add_argument(flag, dest=f"secret_arg_{flag.strip('-').replace('-', '_')}", help=argparse.SUPPRESS)
    d = kinds.add_parser("drive")
    d.add_argument("--credentials", required=True, help="service-account or authorized-user JSON file")
    d.add_argument("--folder", required=True, help="root folder id")
    d.add_argument("--mode", default="folders", choices=["folders", "images"])
    for k in (w, g, sh, d):
        k.add_argument("--name", default=None)
        k.add_argument("--skip-check", action="store_true", help="save without testing the connection")
        k.add_argument("--json", action="store_true", default=argparse.SUPPRESS)

    p = add("users", "list, add, change or remove users")
    actions_ = p.add_subparsers(dest="action", required=True)
    actions_.add_parser("list")
    a = actions_.add_parser("add", help="the password is asked for (or read from stdin), never given as an argument")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=["viewer", "reviewer", "publisher", "admin"])
    a.add_argument("--email", default=None, help="their identity-provider address (sign-in with st.login)")
    a.add_argument("--no-password", action="store_true", help="a role only: they sign in with the identity provider")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a = actions_.add_parser("passwd", help="set a password (asked for, or read from stdin)")
    a.add_argument("name")
    a.add_argument("--password-stdin", action="store_true")
    a = actions_.add_parser("role")
    a.add_argument("name")
    a.add_argument("role", choices=["viewer", "reviewer", "publisher", "admin"])
    a = actions_.add_parser("remove")
    a.add_argument("name")
    for k in actions_.choices.values():
        k.add_argument("--json", action="store_true", default=argparse.SUPPRESS)

    p = add("budget", "show spend per person and month; set budgets; raise a paused job's share")
    b = p.add_subparsers(dest="action", required=True)
    b.add_parser("show")
    a = b.add_parser("set", help="a monthly budget in USD (none: remove it)")
    a.add_argument("usd")
    a.add_argument("--person", default=None, help="this person's budget (default: the whole deployment)")
    a = b.add_parser("share", help="raise a job's share of the budget (then resume it)")
    a.add_argument("--job", type=int, required=True)
    a.add_argument("usd")
    for k in b.choices.values():
        k.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    return parser


COMMANDS = {
    "demo": cmd_demo,
    "generate": cmd_generate,
    "worker": cmd_worker,
    "jobs": cmd_jobs,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "publish": cmd_publish,
    "rollback": cmd_rollback,
    "export": cmd_export,
    "cancel": cmd_cancel,
    "retry": cmd_retry,
    "resume": cmd_resume,
    "connect": cmd_connect,
    "users": cmd_users,
    "budget": cmd_budget,
}


def main(argv: list[str] | None = None, rt: Runtime | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        refuse_secret_arguments(args)
        rt = rt or Runtime.build()
        args.actor = users.cli_actor(rt.db, args.as_user)
        return COMMANDS[args.command](rt, args)
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
