"""Hosts the app must never reach, for the outbound-policy tests: an attacker's image host, a stand-in for a cloud
metadata service, a redirector that sends a client on to any of them. Each is a real loopback HTTP server.

`TrapServer` answers every request like a host that wants to be fetched (a small PNG, or a metadata-looking JSON),
and is `off_policy`: every request it receives lands in `tests.emulators.base.OFF_POLICY_REQUESTS`, which the
suite reports at its end (it must stay empty). `Redirector` is a host the policy allows (an admin's CDN) that
answers every request with a redirect to `target` (or, with `chain`, to itself first, `chain` times), and can
serve an endless or oversized body instead.
"""

from __future__ import annotations

import io
from http.server import BaseHTTPRequestHandler
from typing import Any

from PIL import Image

from tests.emulators.base import LoopbackEmulator


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (255, 255, 255)).save(buf, "PNG")
    return buf.getvalue()


class _TrapHandler(BaseHTTPRequestHandler):
    emulator: TrapServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"AccessKeyId": "trap"}' if "meta-data" in self.path else self.emulator.image
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if body[:1] == b"{" else "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_POST = do_PUT = do_GET


class TrapServer(LoopbackEmulator):
    off_policy = True

    def __init__(self) -> None:
        self.image = _png()

    def start(self) -> TrapServer:
        return self._serve(_TrapHandler, "trap")

    @property
    def hits(self) -> int:
        return len(self.requests_seen)


class _RedirectHandler(BaseHTTPRequestHandler):
    emulator: Redirector
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        emu = self.emulator
        if emu.body == "endless":  # an image that never ends, announced without a length
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"\x89PNG" + b"\0" * 65532
            try:
                while True:  # until the client hangs up
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:
                return
        if emu.body == "oversized":  # an honest Content-Length over any limit
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
            return
        hop = int(self.path.rsplit("/hop", 1)[-1]) if "/hop" in self.path else 0
        location = f"{emu.url}/hop{hop + 1}" if hop < emu.chain else emu.target
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Redirector(LoopbackEmulator):
    def __init__(self, target: str = "", *, chain: int = 0, body: str = "") -> None:
        self.target, self.chain, self.body = target, chain, body

    def start(self) -> Redirector:
        return self._serve(_RedirectHandler, "redirector")
