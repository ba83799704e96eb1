"""What every loopback emulator does the same way: serve its request handler on 127.0.0.1 (a free port) from a
daemon thread, `with Emulator() as emu:` for the lifetime, `emu.url` for the address."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# Every request an off-policy emulator received in this process (emulator, method, path, Host): hosts the app must
# never reach (tests/emulators/trap.py). tests/emulators/fixtures.py reports the total at the end of the run.
OFF_POLICY_REQUESTS: list[tuple[str, str, str, str]] = []
_LOG_LOCK = threading.Lock()


class LoopbackEmulator:
    _server: ThreadingHTTPServer | None = None
    off_policy = False  # True: plays a host outside the outbound policy; any request it gets is a leak
    requests_seen: list[tuple[str, str, str]]

    def start(self) -> Self:
        raise NotImplementedError  # each emulator starts with `return self._serve(its handler, thread name)`

    def _serve(
        self,
        handler: type[BaseHTTPRequestHandler],
        name: str,
        *,
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
    ) -> Self:
        # A subclass per start, so that the handler reaches this emulator as `self.emulator`; every request line
        # that arrives is logged (`requests_seen`), and counted suite-wide when this emulator is off the policy.
        emulator = self

        def parse_request(handler_self: BaseHTTPRequestHandler) -> bool:
            ok = handler.parse_request(handler_self)
            seen = (
                handler_self.command or "?",
                handler_self.path or "?",
                handler_self.headers.get("Host", "") if ok else "",
            )
            with _LOG_LOCK:
                emulator.requests_seen.append(seen)
                if emulator.off_policy:
                    OFF_POLICY_REQUESTS.append((type(emulator).__name__, *seen))
            return ok

        self.requests_seen = []
        bound = type(handler.__name__, (handler,), {"emulator": self, "parse_request": parse_request})
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
