"""The Gemini Batch API calls (google-genai's batches and files): create, list, get, results, cancel. Each records
its outbound request through the provider (an Event, kind "request"). The batch mode of the worker
(lib/worker/batch.py) decides what to send and when; this module only speaks to Gemini.

Requests go inline while their total stays under INLINE_LIMIT_BYTES, else as a JSONL file (Files API); keys are
the item ids. A batch's display name ends in "#<token>" so that a restart between create and recording the name
finds the batch again (`find`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from dataclasses import dataclass
from typing import Any

from google.genai import types

from lib.errors import AppError
from lib.generation.base import GenerationRequest
from lib.generation.gemini import GeminiProvider, map_error, request_config, request_parts

INLINE_LIMIT_BYTES = 19 * 1024 * 1024  # the API takes inline requests up to 20 MB in total
RETRYABLE_RPC_CODES = {4, 8, 10, 13, 14}  # DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE


class CreateFailed(Exception):
    """batches.create (or the file upload) failed. `answered` False: no answer came, so the batch may exist."""

    def __init__(self, error: AppError, *, answered: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.answered = answered


@dataclass(frozen=True)
class Request:
    key: str  # the item id
    request: GenerationRequest


# Display names ----------------------------------------------------------------------------------


def digest(item_ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(item_ids)).encode()).hexdigest()[:16]


def _ranges(ids: list[int], limit: int = 60) -> str:
    ids = sorted(ids)
    out: list[str] = []
    start = prev = ids[0]
    for i in [*ids[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    text = ",".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def display_name(job_id: int, item_ids: list[int]) -> str:
    """Names the item-id set: a restart between create and record finds the batch by the digest."""
    return f"imagegecko job {job_id} items {_ranges(item_ids)} #{digest(item_ids)}"


def request_size(req: GenerationRequest) -> int:
    """Bytes a request adds to an inline batch."""
    images = len(req.source_image) + sum(len(r) for r in req.reference_images)
    return images * 4 // 3 + len(req.prompt.encode()) + 600


def status_of(err: AppError) -> int | None:
    head = (err.detail or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def state(batch: types.BatchJob) -> str:
    value = str(getattr(batch.state, "value", batch.state) or "")
    return value.replace("JOB_STATE_", "").replace("BATCH_STATE_", "")


# Creating --------------------------------------------------------------------------------------------


def inline_requests(requests: list[Request]) -> list[types.InlinedRequest]:
    return [
        types.InlinedRequest(
            contents=[types.Content(role="user", parts=request_parts(r.request))],
            config=request_config(r.request),
            metadata={"key": r.key},
        )
        for r in requests
    ]


def jsonl(requests: list[Request]) -> bytes:
    """One line per request in the REST (camelCase) shape, standard base64 for image bytes."""
    out = io.BytesIO()
    for r in requests:
        parts: list[dict[str, Any]] = []
        for part in request_parts(r.request):
            if part.inline_data is not None and part.inline_data.data is not None:
                parts.append(
                    {
                        "inlineData": {
                            "mimeType": part.inline_data.mime_type,
                            "data": base64.b64encode(part.inline_data.data).decode(),
                        }
                    }
                )
            elif part.text is not None:
                parts.append({"text": part.text})
        config = request_config(r.request)
        image_config: dict[str, str] = {}
        if config.image_config is not None:
            if config.image_config.aspect_ratio:
                image_config["aspectRatio"] = config.image_config.aspect_ratio
            if config.image_config.image_size:
                image_config["imageSize"] = config.image_config.image_size
        line = {
            "key": r.key,
            "request": {
                "contents": [{"role": "user", "parts": parts}],
                "generationConfig": {
                    "responseModalities": list(config.response_modalities or []),
                    "imageConfig": image_config,
                },
            },
        }
        out.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return out.getvalue()


def create(
    provider: GeminiProvider, *, model: str, requests: list[Request], name_for_ids: str, job_id: int
) -> tuple[str, bool]:
    """Create the batch (inline, or through an uploaded JSONL file when too big). Returns (batch name, used a file);
    raises CreateFailed."""
    client = provider.client()
    total = sum(request_size(r.request) for r in requests)
    use_file = total > INLINE_LIMIT_BYTES
    t0 = time.monotonic()
    try:
        if use_file:
            data = jsonl(requests)
            uploaded = client.files.upload(
                file=io.BytesIO(data), config=types.UploadFileConfig(mime_type="jsonl", display_name=name_for_ids)
            )
            provider.record(
                method="POST",
                path="files",
                status=200,
                duration_ms=(time.monotonic() - t0) * 1000,
                job_id=job_id,
                message=f"batch input uploaded: {uploaded.name} ({len(data)} bytes)",
            )
            t0 = time.monotonic()
            src: Any = uploaded.name
        else:
            src = inline_requests(requests)
        created = client.batches.create(
            model=model, src=src, config=types.CreateBatchJobConfig(display_name=name_for_ids)
        )
    except Exception as exc:
        err = map_error(exc, model)
        status = status_of(err)
        provider.record(
            method="POST",
            path=f"models/{model}:batchGenerateContent",
            status=status,
            duration_ms=(time.monotonic() - t0) * 1000,
            job_id=job_id,
            message=f"batch create failed: {err.message}",
            data={"error": err.kind},
        )
        raise CreateFailed(err, answered=status is not None) from exc
    name = created.name or ""
    provider.record(
        method="POST",
        path=f"models/{model}:batchGenerateContent",
        status=200,
        duration_ms=(time.monotonic() - t0) * 1000,
        job_id=job_id,
        request_id=name,
        message=f"batch created: {name}, {len(requests)} requests {'(file)' if use_file else '(inline)'}",
    )
    return name, use_file


# Finding, polling, results, cancelling ---------------------------------------------------------------------


def list_batches(provider: GeminiProvider, max_pages: int = 20) -> list[types.BatchJob]:
    t0 = time.monotonic()
    out: list[types.BatchJob] = []
    pager = provider.client().batches.list(config=types.ListBatchJobsConfig(page_size=100))
    for i, batch in enumerate(pager):
        out.append(batch)
        if i >= max_pages * 100:
            break
    provider.record(
        method="GET",
        path="batches",
        status=200,
        duration_ms=(time.monotonic() - t0) * 1000,
        message=f"batches listed: {len(out)}",
    )
    return out


def find(batches: list[types.BatchJob], token: str) -> types.BatchJob | None:
    """The batch whose display name ends with the token's suffix."""
    suffix = "#" + token
    return next((b for b in batches if (b.display_name or "").endswith(suffix) and b.name), None)


def get(provider: GeminiProvider, name: str, job_id: int) -> types.BatchJob:
    """batches.get, recorded; raises the mapped AppError."""
    t0 = time.monotonic()
    try:
        batch = provider.client().batches.get(name=name)
    except Exception as exc:
        err = map_error(exc)
        provider.record(
            method="GET",
            path=name,
            status=status_of(err),
            duration_ms=(time.monotonic() - t0) * 1000,
            job_id=job_id,
            message=f"batch poll failed: {err.message}",
        )
        raise err from exc
    provider.record(
        method="GET",
        path=name,
        status=200,
        duration_ms=(time.monotonic() - t0) * 1000,
        job_id=job_id,
        request_id=name,
        message=f"batch poll: {name} {state(batch)}",
    )
    return batch


def results(provider: GeminiProvider, batch: types.BatchJob, job_id: int) -> dict[str, Any]:
    """key -> GenerateContentResponse, or an error dict {"code", "message"}."""
    out: dict[str, Any] = {}
    dest = batch.dest
    if dest is None:
        return out
    for r in dest.inlined_responses or []:
        key = str((r.metadata or {}).get("key", ""))
        if r.error is not None:
            out[key] = {"code": r.error.code, "message": r.error.message}
        elif r.response is not None:
            out[key] = r.response
    if dest.file_name:
        t0 = time.monotonic()
        data = provider.client().files.download(file=dest.file_name)
        provider.record(
            method="GET",
            path=f"{dest.file_name}:download",
            status=200,
            job_id=job_id,
            duration_ms=(time.monotonic() - t0) * 1000,
            message=f"batch results downloaded: {dest.file_name} ({len(data)} bytes)",
        )
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = str(row.get("key", ""))
            if isinstance(row.get("response"), dict):
                out[key] = types.GenerateContentResponse._from_response(response=row["response"], kwargs={})
            else:
                error = row.get("error") or row.get("status") or {}
                out[key] = {"code": error.get("code"), "message": error.get("message") or "no result"}
    return out


def cancel(provider: GeminiProvider, name: str, job_id: int | None) -> bool:
    """batches.cancel; False if it should be tried again (no answer, or a retryable error)."""
    t0 = time.monotonic()
    try:
        provider.client().batches.cancel(name=name)
        status: int | None = 200
    except Exception as exc:
        err = map_error(exc)
        status = status_of(err)
        if err.retryable or status is None:
            provider.record(
                method="POST",
                path=f"{name}:cancel",
                status=status,
                job_id=job_id,
                duration_ms=(time.monotonic() - t0) * 1000,
                message=f"batch cancel failed: {err.message}",
            )
            return False
    provider.record(
        method="POST",
        path=f"{name}:cancel",
        status=status,
        job_id=job_id,
        duration_ms=(time.monotonic() - t0) * 1000,
        message=f"batch cancelled: {name}",
    )
    return True
