"""What every loopback emulator does the same way: serve its request handler on 127.0.0.1 (a free port) from a
daemon thread, `with Emulator() as emu:` for the lifetime, `emu.url` for the address."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackEmulator:
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        raise NotImplementedError  # each emulator starts with `return self._serve(its handler, thread name)`

    def _serve(
        self,
        handler: type[BaseHTTPRequestHandler],
        name: str,
        *,
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
    ) -> Self:
        # A subclass per start, so that the handler reaches this emulator as `self.emulator`.
        bound = type(handler.__name__, (handler,), {"emulator": self})
        self._server = server_class(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True  # a client that keeps its connection open must not block stop()
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=name
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base address, without a trailing slash."""
        assert self._server is not None, "start() the emulator first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"
