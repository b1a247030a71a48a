"""A real HTTP receiver on 127.0.0.1 for webhook tests: scripted answers, every request recorded.

>>> with Receiver() as rx:                                   # doctest: +SKIP
...     rx.script(Answer(500), Answer(500))                 # then 200 for every later request
...     ws.webhooks.add(rx.url, allow_private=True)
"""

from __future__ import annotations

import http.server
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    """How to answer one request.

    Attributes
    ----------
    status : int
    headers : dict
    delay_s : float
        Sleep before answering.
    hang : bool
        Wait (no answer) until :meth:`Receiver.release` or ``hang_limit_s``.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False


@dataclass(frozen=True)
class Request:
    """One received request."""

    path: str
    headers: dict[str, str]
    body: bytes
    received: float
    answered: float


class Receiver:
    """A threading HTTP server on 127.0.0.1 (random port) answering POSTs as scripted.

    Parameters
    ----------
    default : Answer
        The answer once the script is used up.
    hang_limit_s : float
        Longest a hanging answer waits (keeps tests bounded).
    """

    def __init__(self, *, default: Answer | None = None, hang_limit_s: float = 30.0) -> None:
        self.default = default or Answer()
        self.hang_limit_s = hang_limit_s
        self.requests: list[Request] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Condition()
        self._release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                received = time.monotonic()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    answer = receiver._script.popleft() if receiver._script else receiver.default
                    receiver._arrived.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver._lock.notify_all()
                if answer.hang:
                    receiver._release.wait(receiver.hang_limit_s)
                    self.close_connection = True
                    return
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                with receiver._lock:
                    receiver.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                     body, received, time.monotonic()))
                    receiver._lock.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (time limit) resets the connection: expected here

        self._arrived: list[tuple[str, dict[str, str], bytes]] = []
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def script(self, *answers: Answer) -> None:
        """Answer the next requests like this, in order."""
        with self._lock:
            self._script.extend(answers)

    def release(self) -> None:
        """Let hanging answers end (without answering)."""
        self._release.set()

    @property
    def arrived(self) -> list[tuple[str, dict[str, str], bytes]]:
        """Every request that arrived, answered or not: (path, headers, body)."""
        with self._lock:
            return list(self._arrived)

    def wait_for(self, n: int, *, timeout_s: float = 10.0, answered: bool = True) -> list[Request]:
        """Wait until ``n`` requests were answered (or arrived); returns the answered ones."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while len(self.requests if answered else self._arrived) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.requests)} answered / {len(self._arrived)} arrived, wanted {n}")
                self._lock.wait(left)
            return list(self.requests)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
