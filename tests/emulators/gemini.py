"""A loopback emulator of the Gemini API (generativelanguage.googleapis.com) for the real google-genai SDK.

Faithful to /work/shared/reference/api-contracts.md §1: generateContent (both /v1 and /v1beta), models.get,
countTokens, the Batch API (create inline or from a file, get, cancel, delete, list), and the Files API
(resumable upload with X-Goog-Upload-* headers, get, download by both paths). Answers carry real images and
real usageMetadata; errors use Google's envelope (with RetryInfo on 429/503).

Switches (attributes, safe to change while running):
    latency               seconds to wait before answering generateContent (text_latency: for text models)
    fault_ratio           share of generateContent calls answered 429/503 first (chosen deterministically from
                          the request body, at most `max_faults_per_request` times for the same body)
    quota_rpm             requests per minute accepted per model; above it 429 with the RetryInfo the window needs
    retry_delay           the RetryInfo delay sent with 429/503 ("2s")
    thoughts              add interim thought images (as Gemini 3 does) before the final one
    rules                 [(substring of the prompt, outcome)]: every matching request gets that outcome
    queue(outcome, n)     the next n generateContent calls get that outcome
    batch_auto            each batches.get moves a pending/running batch one step on (pending->running->done)
    image_side            long side override for generated images (None = what the model would make)
Outcomes: "429", "503", "500", "504", "400", "401", "403", "blocked", "image_safety", "image_prohibited", "no_image",
"image_other", "image_recitation", "safety", "text_only".
Batches move with `advance(name, "running" | "succeeded" | "failed" | "expired" | "cancelled")`, no sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw, ImageFilter

from tests.emulators.base import LoopbackEmulator

VALID_KEY = "test-key"
IMAGE_MODELS_1K = ("gemini-2.5-flash-image",)  # always ~1024 px, ignores imageSize
KNOWN_MODELS = (
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-image-preview",
    "gemini-2.5-flash",
)
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14, 504: 4}
FINISH_OUTCOMES = {
    "image_safety": "IMAGE_SAFETY",
    "image_prohibited": "IMAGE_PROHIBITED_CONTENT",
    "no_image": "NO_IMAGE",
    "image_other": "IMAGE_OTHER",
    "image_recitation": "IMAGE_RECITATION",
    "safety": "SAFETY",
}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def b64decode_any(data: str) -> bytes:
    """The SDK sends URL-safe base64 in requests; other clients send the standard alphabet."""
    data = data.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def error_body(code: int, message: str, *, retry_delay: str | None = None, reason: str | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if code == 429:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                    }
                ],
            }
        )
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    body: dict[str, Any] = {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        body["details"] = details
    return {"error": body}


def _tokens_for_image(data: bytes) -> int:
    try:
        w, h = Image.open(io.BytesIO(data)).size
    except Exception:
        return 258
    if w <= 384 and h <= 384:
        return 258
    return 258 * math.ceil(w / 768) * math.ceil(h / 768)


def _aspect_size(aspect: str, long_side: int) -> tuple[int, int]:
    w_s, h_s = aspect.split(":")
    w, h = float(w_s), float(h_s)
    if w >= h:
        return long_side, max(1, round(long_side * h / w))
    return max(1, round(long_side * w / h)), long_side


def draw_image(
    source: bytes | None, prompt: str, aspect: str, long_side: int, *, mime: str = "image/png", variant: str = ""
) -> bytes:
    """A real picture: the product photo placed in a tinted scene with a shadow (or the studio engine's)."""
    size = _aspect_size(aspect, long_side)
    digest = hashlib.sha256((prompt + variant).encode()).digest()
    top = (200 + digest[0] % 50, 190 + digest[1] % 60, 180 + digest[2] % 70)
    bottom = (120 + digest[3] % 60, 110 + digest[4] % 60, 100 + digest[5] % 60)
    bg = Image.linear_gradient("L").resize(size)
    img = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), bg)
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle([0, int(h * 0.72), w, h], fill=tuple(c - 20 for c in bottom))
    if source:
        try:
            product = Image.open(io.BytesIO(source)).convert("RGB")
            product.thumbnail((int(w * 0.55), int(h * 0.55)))
            pw, ph = product.size
            x, y = (w - pw) // 2, int(h * 0.78) - ph
            shadow = Image.new("L", size, 0)
            ImageDraw.Draw(shadow).ellipse([x, y + ph - ph // 12, x + pw, y + ph + ph // 12], fill=110)
            img.paste((40, 35, 30), (0, 0), shadow.filter(ImageFilter.GaussianBlur(max(2, pw // 25))))
            # white background of the product photo stays out of the scene
            mask = product.convert("L").point(lambda v: 0 if v > 240 else 255)
            img.paste(product, (x, y), mask)
        except Exception:
            pass
    out = io.BytesIO()
    if mime == "image/jpeg":
        img.save(out, "JPEG", quality=88)
    else:
        img.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _studio_image(source: bytes | None, prompt: str, aspect: str, long_side: int) -> bytes | None:
    """Use the studio engine when it is in the repo (real composed scenes); None otherwise."""
    if not source:
        return None
    try:
        from lib.generation.base import GenerationRequest, ProductInfo
        from lib.generation.studio import StudioEngine
    except Exception:
        return None
    try:
        req = GenerationRequest(
            source_image=source,
            prompt=prompt,
            product=ProductInfo(name="product"),
            style="marble_counter",
            model="studio-v1",
            aspect_ratio=aspect,
            output_size=long_side,
        )
        return StudioEngine().generate(req).data
    except Exception:
        return None


@dataclass
class BatchRecord:
    id: str
    model: str
    display_name: str
    requests: list[dict[str, Any]]  # [{"request": {...}, "metadata": {"key": ..}}] or file lines
    from_file: str | None = None
    state: str = "BATCH_STATE_PENDING"
    create_time: str = field(default_factory=_now_iso)
    update_time: str = field(default_factory=_now_iso)
    end_time: str | None = None
    output: dict[str, Any] | None = None
    stats: dict[str, str] = field(default_factory=dict)


@dataclass
class FileRecord:
    id: str
    display_name: str
    mime_type: str
    data: bytes = b""
    size_declared: int = 0
    state: str = "PROCESSING"
    generated: bool = False  # batch output files can be downloaded; uploads cannot (as in the real API)
    create_time: str = field(default_factory=_now_iso)

    def json(self, base: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"files/{self.id}",
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": self.create_time,
            "updateTime": self.create_time,
            "expirationTime": self.create_time,
            "sha256Hash": base64.b64encode(hashlib.sha256(self.data).digest()).decode(),
            "uri": f"{base}/v1beta/files/{self.id}",
            "state": self.state,
            "source": "GENERATED" if self.generated else "UPLOADED",
        }
        if self.generated:
            body["downloadUri"] = f"{base}/download/v1beta/files/{self.id}:download?alt=media"
        return body


class GeminiEmulator(LoopbackEmulator):
    """Start with `with GeminiEmulator() as emu:`; point the SDK at `emu.url` with api key `emu.api_key`."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fault_ratio: float = 0.0,
        quota_rpm: int = 0,
        retry_delay: str = "2s",
        image_side: int | None = None,
        image_mime: str = "image/png",
    ) -> None:
        self.api_keys = {VALID_KEY}
        self.api_key = VALID_KEY
        self.latency = latency
        self.text_latency: float | None = None  # text models (alt text); None = same as latency
        # set: text-model calls wait until it is opened (a test releases them); text_answered counts the ones sent
        self.text_gate: threading.Event | None = None
        self.text_answered = 0
        self.fault_ratio = fault_ratio
        self.fault_codes = (429, 503)
        self.max_faults_per_request = 2
        self.quota_rpm = quota_rpm
        self.retry_delay = retry_delay
        self.image_side = image_side
        self.image_mime = image_mime
        self.thoughts = False
        self.batch_auto = False
        self.use_studio = True
        self.rules: list[tuple[str, str]] = []
        self.describe_text = "Image of {name} on a light stone counter beside a window"
        self._queue: deque[str] = deque()
        self._route_queue: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self._windows: dict[str, deque[float]] = {}
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.bodies: list[tuple[str, dict[str, Any]]] = []  # (model, JSON body) of each generateContent call
        self.batches: dict[str, BatchRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self._uploads: dict[str, FileRecord] = {}
        self._next_id = 1000

    # lifecycle (stop, `with` and url: LoopbackEmulator) ---------------------------------------
    def start(self) -> GeminiEmulator:
        return self._serve(_Handler, "gemini-emulator")

    # test controls ----------------------------------------------------------------------------
    def queue(self, outcome: str, n: int = 1, *, route: str = "generateContent") -> None:
        """The next n calls of a route get this outcome. For "batches.create": an HTTP code, or "hangup"
        (the batch is created but the connection closes before the answer, as on a network cut)."""
        with self._lock:
            if route == "generateContent":
                self._queue.extend([outcome] * n)
            else:
                self._route_queue.setdefault(route, deque()).extend([outcome] * n)

    def clear_queue(self) -> None:
        """Forget the outcomes queued for the next calls (every route)."""
        with self._lock:
            self._queue.clear()
            self._route_queue.clear()

    def _take(self, route: str) -> str | None:
        with self._lock:
            q = self._route_queue.get(route)
            return q.popleft() if q else None

    def on_prompt(self, substring: str, outcome: str) -> None:
        self.rules.append((substring, outcome))

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.statuses.clear()
            self.log.clear()
            self.bodies.clear()

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            self._next_id += 1
            return f"{prefix}{self._next_id}"

    def advance(self, name: str | None = None, to: str = "succeeded") -> list[str]:
        """Move batches (one by name, or every unfinished one) to a state. Returns the names moved."""
        target = "BATCH_STATE_" + to.upper()
        moved = []
        for rec in list(self.batches.values()):
            if name is not None and f"batches/{rec.id}" != name and rec.id != name:
                continue
            if rec.state in (
                "BATCH_STATE_SUCCEEDED",
                "BATCH_STATE_FAILED",
                "BATCH_STATE_CANCELLED",
                "BATCH_STATE_EXPIRED",
            ):
                continue
            self._set_batch_state(rec, target)
            moved.append(f"batches/{rec.id}")
        return moved

    def _set_batch_state(self, rec: BatchRecord, state: str) -> None:
        rec.state = state
        rec.update_time = _now_iso()
        if state in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"):
            rec.end_time = rec.update_time
        if state == "BATCH_STATE_SUCCEEDED":
            self._run_batch(rec)

    def _run_batch(self, rec: BatchRecord) -> None:
        results = []
        ok = failed = 0
        for entry in rec.requests:
            key = (entry.get("metadata") or {}).get("key") if "metadata" in entry else entry.get("key")
            request = entry.get("request") or {}
            status, body = self.answer(rec.model, request, online=False)
            if status == 200:
                ok += 1
                results.append((key, {"response": body}))
            else:
                failed += 1
                err = body["error"]
                results.append((key, {"error": {"code": RPC_CODES.get(status, 2), "message": err["message"]}}))
        rec.stats = {
            "requestCount": str(len(rec.requests)),
            "successfulRequestCount": str(ok),
            "failedRequestCount": str(failed),
        }
        if rec.from_file:
            lines = [json.dumps({"key": key, **res}) for key, res in results]
            out = FileRecord(
                id=self._new_id("batch-out-"),
                display_name=f"{rec.id}-output",
                mime_type="application/jsonl",
                data=("\n".join(lines) + "\n").encode(),
                state="ACTIVE",
                generated=True,
            )
            self.files[out.id] = out
            rec.output = {"responsesFile": f"files/{out.id}"}
        else:
            rec.output = {
                "inlinedResponses": {"inlinedResponses": [{**res, "metadata": {"key": key}} for key, res in results]}
            }

    # the model ---------------------------------------------------------------------------------
    def _pick_outcome(self, prompt: str, body_hash: str, online: bool) -> str | None:
        for substring, outcome in self.rules:
            if substring in prompt:
                return outcome
        if not online:
            return None
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self.fault_ratio > 0:
                seen = self._seen[body_hash]
                self._seen[body_hash] += 1
                if seen < self.max_faults_per_request:
                    roll = int(hashlib.sha256(f"{body_hash}:{seen}".encode()).hexdigest()[:8], 16) % 1000
                    if roll < self.fault_ratio * 1000:
                        return str(self.fault_codes[roll % len(self.fault_codes)])
        return None

    def _quota_delay(self, model: str) -> float | None:
        """Sliding one-minute window per model (as Google counts): None if admitted, else seconds to wait."""
        if not self.quota_rpm:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(model, deque())
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= self.quota_rpm:
                return max(0.001, 60.0 - (now - window[0]))
            window.append(now)
        return None

    def answer(self, model: str, request: dict[str, Any], *, online: bool = True) -> tuple[int, dict[str, Any]]:
        """Status and JSON body of a generateContent call (also used for each batch request)."""
        contents = request.get("contents") or []
        texts: list[str] = []
        images: list[bytes] = []
        for content in contents:
            for part in content.get("parts") or []:
                if "text" in part:
                    texts.append(part["text"])
                inline = part.get("inlineData") or part.get("inline_data")
                if inline:
                    mime = inline.get("mimeType") or inline.get("mime_type")
                    if not mime:
                        return 400, error_body(
                            400, "* GenerateContentRequest.contents.parts.inline_data.mime_type: field is required"
                        )
                    try:
                        images.append(b64decode_any(inline.get("data") or ""))
                    except Exception:
                        return 400, error_body(
                            400,
                            "Invalid value at 'contents[0].parts[0].inline_data.data'"
                            " (TYPE_BYTES), Base64 decoding failed",
                        )
        prompt = "\n".join(texts)
        if not contents or (not texts and not images):
            return 400, error_body(400, "* GenerateContentRequest.contents: contents is not specified")
        config = request.get("generationConfig") or request.get("generation_config") or {}
        body_hash = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        outcome = self._pick_outcome(prompt, body_hash, online)
        if online and outcome is None:
            wait = self._quota_delay(model)
            if wait is not None:
                return 429, error_body(
                    429,
                    "You exceeded your current quota, please check your plan and billing details. "
                    f"Please retry in {wait:.2f}s.",
                    retry_delay=f"{math.ceil(wait)}s",
                )
        if outcome and outcome.isdigit():
            code = int(outcome)
            messages = {
                429: "Resource has been exhausted (e.g. check quota).",
                503: "The model is overloaded. Please try again later.",
                500: "An internal error has occurred. Please retry or report in "
                "https://developers.generativeai.google/guide/troubleshooting",
                504: "Deadline expired before operation could complete.",
                400: "Request contains an invalid argument.",
                401: "Request had invalid authentication credentials.",
                403: "Permission denied: Consumer has been suspended.",
            }
            delay = self.retry_delay if code in (429, 503) else None
            return code, error_body(code, messages.get(code, "Error."), retry_delay=delay)

        prompt_tokens = sum(_tokens_for_image(i) for i in images) + max(1, len(prompt) // 4)
        usage: dict[str, Any] = {
            "promptTokenCount": prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": max(1, len(prompt) // 4)}]
            + ([{"modality": "IMAGE", "tokenCount": prompt_tokens - max(1, len(prompt) // 4)}] if images else []),
        }
        response_id = uuid.uuid4().hex[:22]
        base = {"modelVersion": model, "responseId": response_id}
        if outcome == "blocked":
            usage["totalTokenCount"] = prompt_tokens
            return 200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage, **base}
        modalities = [m.upper() for m in config.get("responseModalities") or config.get("response_modalities") or []]
        wants_image = "IMAGE" in modalities and "image" in model
        if outcome in FINISH_OUTCOMES:
            usage["totalTokenCount"] = prompt_tokens
            return 200, {
                "candidates": [{"finishReason": FINISH_OUTCOMES[outcome], "index": 0}],
                "usageMetadata": usage,
                **base,
            }
        if not wants_image or outcome == "text_only":
            if outcome == "text_only":
                text = "I can place the product on a marble counter, but I cannot draw it exactly as it is."
            else:
                name = re.search(r"Product:\s*(.+)", prompt)
                text = self.describe_text.format(name=name.group(1).strip() if name else "the product")
            out_tokens = max(1, len(text) // 4)
            usage.update(
                candidatesTokenCount=out_tokens,
                totalTokenCount=prompt_tokens + out_tokens,
                candidatesTokensDetails=[{"modality": "TEXT", "tokenCount": out_tokens}],
            )
            return 200, {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": usage,
                **base,
            }

        image_config = config.get("imageConfig") or config.get("image_config") or {}
        aspect = image_config.get("aspectRatio") or image_config.get("aspect_ratio") or "1:1"
        size_name = image_config.get("imageSize") or image_config.get("image_size") or "1K"
        if size_name not in ("1K", "2K", "4K", "512"):
            return 400, error_body(400, f"Invalid image size {size_name!r}: use 1K, 2K or 4K.")
        long_side = 1024 if model in IMAGE_MODELS_1K else {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}[size_name]
        long_side = self.image_side or long_side
        image_tokens = 1290 if model in IMAGE_MODELS_1K else (2000 if size_name == "4K" else 1120)
        source = images[0] if images else None
        data = (_studio_image(source, prompt, aspect, long_side) if self.use_studio else None) or draw_image(
            source, prompt, aspect, long_side, mime=self.image_mime
        )
        mime = "image/jpeg" if data[:2] == b"\xff\xd8" else "image/png"
        parts: list[dict[str, Any]] = []
        thought_tokens = 0
        if self.thoughts or "gemini-3" in model:
            thought_tokens = 180
            parts.append({"text": "Placing the product on the counter first, then the light.", "thought": True})
            if self.thoughts:
                interim = draw_image(source, prompt, aspect, 256, mime="image/jpeg", variant="draft")
                parts.append(
                    {
                        "inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(interim).decode()},
                        "thought": True,
                    }
                )
        parts.append(
            {
                "inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()},
                "thoughtSignature": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            }
        )
        usage.update(
            candidatesTokenCount=image_tokens,
            totalTokenCount=prompt_tokens + image_tokens + thought_tokens,
            candidatesTokensDetails=[{"modality": "IMAGE", "tokenCount": image_tokens}],
        )
        if thought_tokens:
            usage["thoughtsTokenCount"] = thought_tokens
        return 200, {
            "candidates": [
                {
                    "content": {"role": "model", "parts": parts},
                    "finishReason": "STOP",
                    "index": 0,
                    "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
                }
            ],
            "usageMetadata": usage,
            **base,
        }

    # batches ------------------------------------------------------------------------------------
    def batch_json(self, rec: BatchRecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": f"models/{rec.model}",
            "displayName": rec.display_name,
            "name": f"batches/{rec.id}",
            "state": rec.state,
            "createTime": rec.create_time,
            "updateTime": rec.update_time,
            "batchStats": rec.stats
            or {"requestCount": str(len(rec.requests)), "pendingRequestCount": str(len(rec.requests))},
        }
        if rec.from_file:
            metadata["inputConfig"] = {"fileName": rec.from_file}
        if rec.end_time:
            metadata["endTime"] = rec.end_time
        body: dict[str, Any] = {"name": f"batches/{rec.id}", "metadata": metadata}
        if rec.output is not None:
            metadata["output"] = rec.output
            body["done"] = True
            body["response"] = {"@type": metadata["@type"], **{k: v for k, v in metadata.items() if k != "@type"}}
        elif rec.end_time:
            body["done"] = True
        return body


class _Handler(BaseHTTPRequestHandler):
    emulator: GeminiEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # plumbing --------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        """The request body, read once at dispatch so that early answers (auth errors) leave a clean
        keep-alive connection behind."""
        return self._raw

    def _send(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json; charset=UTF-8",
    ) -> None:
        data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        # Logged before the answer goes out: a client that has its answer must find the request in the log.
        route = getattr(self, "_route", "?")
        emu = self.emulator
        with emu._lock:
            emu.statuses[(route, status)] += 1
            emu.log.append((self.command, urlsplit(self.path).path, status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _count(self, route: str) -> None:
        self._route = route
        with self.emulator._lock:
            self.emulator.counts[route] += 1

    def _auth(self) -> bool:
        key = self.headers.get("x-goog-api-key") or parse_qs(urlsplit(self.path).query).get("key", [None])[0]
        if not key:
            self._send(
                403,
                error_body(
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity "
                    "to call this API.",
                ),
            )
            return False
        if key not in self.emulator.api_keys:
            self._send(
                400, error_body(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID")
            )
            return False
        return True

    def _json(self) -> dict[str, Any] | None:
        try:
            return json.loads(self._body() or b"{}")
        except ValueError:
            self._send(400, error_body(400, "Invalid JSON payload received."))
            return None

    # routing ----------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self._route = f"{method} {path}"
        m = re.fullmatch(r"/upload/(v1|v1beta)/files", path)
        if m and method == "POST":
            upload_id = parse_qs(urlsplit(self.path).query).get("upload_id", [None])[0]
            return self._upload(upload_id)
        m = re.fullmatch(r"/(?:download/)?(v1|v1beta)/files/([^/:]+):download", path)
        if m and method == "GET":
            return self._download(m.group(2))
        m = re.fullmatch(r"/(v1|v1beta)/(.+)", path)
        if not m:
            self._count("unknown")
            return self._send(404, error_body(404, f"The requested URL {path} was not found on this server."))
        rest = m.group(2)
        routes: list[tuple[str, str, str, Any]] = [
            ("POST", r"models/([^/:]+):generateContent", "generateContent", self._generate),
            ("POST", r"models/([^/:]+):batchGenerateContent", "batches.create", self._batch_create),
            ("POST", r"models/([^/:]+):countTokens", "countTokens", self._count_tokens),
            ("GET", r"models/([^/:]+)", "models.get", self._model_get),
            ("GET", r"batches", "batches.list", self._batch_list),
            ("GET", r"batches/([^/:]+)", "batches.get", self._batch_get),
            ("POST", r"batches/([^/:]+):cancel", "batches.cancel", self._batch_cancel),
            ("DELETE", r"batches/([^/:]+)", "batches.delete", self._batch_delete),
            ("GET", r"files/([^/:]+)", "files.get", self._file_get),
            ("DELETE", r"files/([^/:]+)", "files.delete", self._file_delete),
        ]
        for verb, pattern, name, handler in routes:
            if verb == method and (mm := re.fullmatch(pattern, rest)):
                self._count(name)
                if not self._auth():
                    return None
                return handler(*mm.groups())
        self._count("unknown")
        return self._send(404, error_body(404, f"Method not found: {method} {rest}"))

    # generateContent ----------------------------------------------------------------------------------
    def _generate(self, model: str) -> None:
        emu = self.emulator
        body = self._json()
        if body is None:
            return
        with emu._lock:
            emu.bodies.append((model, body))
        if model not in KNOWN_MODELS:
            return self._send(
                404,
                error_body(
                    404, f"models/{model} is not found for API version v1beta, or is not supported for generateContent."
                ),
            )
        delay = emu.latency if emu.text_latency is None or "image" in model else emu.text_latency
        if delay:
            time.sleep(delay)
        if emu.text_gate is not None and "image" not in model:
            emu.text_gate.wait(60)
        status, answer = emu.answer(model, body, online=True)
        try:
            self._send(status, answer)
        finally:
            if "image" not in model:
                with emu._lock:
                    emu.text_answered += 1

    def _count_tokens(self, model: str) -> None:
        body = self._json()
        if body is None:
            return
        text = json.dumps(body)
        self._send(200, {"totalTokens": max(1, len(text) // 4)})

    def _model_get(self, model: str) -> None:
        if model not in KNOWN_MODELS:
            return self._send(404, error_body(404, f"models/{model} is not found for API version v1beta."))
        self._send(
            200,
            {
                "name": f"models/{model}",
                "version": "001",
                "displayName": model,
                "inputTokenLimit": 32768,
                "outputTokenLimit": 32768,
                "supportedGenerationMethods": ["generateContent", "countTokens", "batchGenerateContent"],
            },
        )

    # batches ----------------------------------------------------------------------------------------
    def _batch_create(self, model: str) -> None:
        emu = self.emulator
        body = self._json()
        if body is None:
            return
        batch = body.get("batch") or {}
        input_config = batch.get("inputConfig") or batch.get("input_config") or {}
        file_name = input_config.get("fileName") or input_config.get("file_name")
        if file_name:
            rec_file = emu.files.get(file_name.split("/")[-1])
            if rec_file is None:
                return self._send(404, error_body(404, f"File {file_name} not found."))
            try:
                requests = [json.loads(line) for line in rec_file.data.decode().splitlines() if line.strip()]
            except ValueError:
                return self._send(400, error_body(400, "The input file is not valid JSONL."))
        else:
            requests = ((input_config.get("requests") or {}).get("requests")) or []
            total = len(json.dumps(body))
            if total > 20 * 1024 * 1024:
                return self._send(400, error_body(400, "Request payload size exceeds the limit: 20971520 bytes."))
        if not requests:
            return self._send(400, error_body(400, "* BatchGenerateContentRequest.batch.input_config: no requests"))
        outcome = emu._take("batches.create")
        if outcome and outcome.isdigit():
            code = int(outcome)
            return self._send(
                code,
                error_body(code, "Batch creation failed.", retry_delay=emu.retry_delay if code in (429, 503) else None),
            )
        rec = BatchRecord(
            id=emu._new_id(""),
            model=model,
            display_name=batch.get("displayName") or "",
            requests=requests,
            from_file=file_name,
        )
        emu.batches[rec.id] = rec
        if outcome == "hangup":  # created, but the client never hears about it
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        self._send(200, emu.batch_json(rec))

    def _batch_get(self, batch_id: str) -> None:
        emu = self.emulator
        rec = emu.batches.get(batch_id)
        if rec is None:
            return self._send(404, error_body(404, f"Batch batches/{batch_id} not found."))
        if emu.batch_auto:
            nxt = {"BATCH_STATE_PENDING": "BATCH_STATE_RUNNING", "BATCH_STATE_RUNNING": "BATCH_STATE_SUCCEEDED"}
            if rec.state in nxt:
                emu._set_batch_state(rec, nxt[rec.state])
        self._send(200, emu.batch_json(rec))

    def _batch_cancel(self, batch_id: str) -> None:
        rec = self.emulator.batches.get(batch_id)
        if rec is None:
            return self._send(404, error_body(404, f"Batch batches/{batch_id} not found."))
        if rec.state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
            self.emulator._set_batch_state(rec, "BATCH_STATE_CANCELLED")
        self._send(200, {})

    def _batch_delete(self, batch_id: str) -> None:
        if self.emulator.batches.pop(batch_id, None) is None:
            return self._send(404, error_body(404, f"Batch batches/{batch_id} not found."))
        self._send(200, {})

    def _batch_list(self) -> None:
        q = parse_qs(urlsplit(self.path).query)
        size = int(q.get("pageSize", ["50"])[0])
        start = int(q.get("pageToken", ["0"])[0] or 0)
        recs = sorted(self.emulator.batches.values(), key=lambda r: int(r.id), reverse=True)
        page = recs[start : start + size]
        body: dict[str, Any] = {"operations": [self.emulator.batch_json(r) for r in page]}
        if start + size < len(recs):
            body["nextPageToken"] = str(start + size)
        self._send(200, body)

    # files --------------------------------------------------------------------------------------------
    def _upload(self, upload_id: str | None) -> None:
        emu = self.emulator
        command = (self.headers.get("X-Goog-Upload-Command") or "").lower()
        if upload_id is None:
            self._count("files.upload.start")
            if not self._auth():
                return
            if self.headers.get("X-Goog-Upload-Protocol", "").lower() != "resumable" or command != "start":
                return self._send(400, error_body(400, "Upload protocol must be resumable with command start."))
            body = self._json()
            if body is None:
                return
            meta = body.get("file") or {}
            rec = FileRecord(
                id=meta.get("name", "").split("/")[-1] or emu._new_id("file-"),
                display_name=meta.get("displayName") or meta.get("display_name") or "",
                mime_type=self.headers.get("X-Goog-Upload-Header-Content-Type")
                or meta.get("mimeType")
                or meta.get("mime_type")
                or "application/octet-stream",
                size_declared=int(self.headers.get("X-Goog-Upload-Header-Content-Length") or 0),
            )
            token = uuid.uuid4().hex
            emu._uploads[token] = rec
            host = self.headers.get("Host") or "127.0.0.1"
            url = f"http://{host}/upload/v1beta/files?upload_id={token}&upload_protocol=resumable"
            return self._send(200, {}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})
        self._count("files.upload.chunk")
        rec = emu._uploads.get(upload_id)
        if rec is None:
            return self._send(404, error_body(404, "Upload session not found."))
        data = self._body()
        offset = int(self.headers.get("X-Goog-Upload-Offset") or 0)
        if offset != len(rec.data):
            return self._send(
                400,
                error_body(400, f"Offset {offset} does not match {len(rec.data)}."),
                headers={"X-Goog-Upload-Status": "active"},
            )
        rec.data += data
        if "finalize" in command:
            del emu._uploads[upload_id]
            rec.state = "ACTIVE"
            emu.files[rec.id] = rec
            return self._send(200, {"file": rec.json(emu.url)}, headers={"X-Goog-Upload-Status": "final"})
        self._send(200, {}, headers={"X-Goog-Upload-Status": "active"})

    def _file_get(self, file_id: str) -> None:
        rec = self.emulator.files.get(file_id)
        if rec is None:
            return self._send(404, error_body(404, f"File files/{file_id} not found."))
        self._send(200, rec.json(self.emulator.url))

    def _file_delete(self, file_id: str) -> None:
        if self.emulator.files.pop(file_id, None) is None:
            return self._send(404, error_body(404, f"File files/{file_id} not found."))
        self._send(200, {})

    def _download(self, file_id: str) -> None:
        self._count("files.download")
        if not self._auth():
            return
        rec = self.emulator.files.get(file_id)
        if rec is None:
            return self._send(404, error_body(404, f"File files/{file_id} not found."))
        if not rec.generated:
            return self._send(400, error_body(400, "Only generated files can be downloaded."))
        self._send(200, raw=rec.data, content_type=rec.mime_type)
