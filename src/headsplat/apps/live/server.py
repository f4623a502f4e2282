"""``headsplat live``'s server: the viewer page and its WebSocket (``/live``) on one port of
127.0.0.1, by the ``websockets`` library's threaded server.

Every page that connects gets the greeting (what the page needs before the first condition), then
the newest message whenever there is one: each client has a one-slot mailbox, so a slow page skips
to the newest message rather than falling behind. Each message that leaves the socket with a
capture time adds to the latency record: capture (the frame's arrival from its source) to sent.
"""

from __future__ import annotations

import json
import mimetypes
import threading
import time
from collections import deque
from pathlib import Path

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from headsplat.apps.live.sources import Latest
from headsplat.io.errors import InputError

SOCKET_PATH = "/live"
CONTENT_TYPES = {".js": "text/javascript", ".json": "application/json", ".bin": "application/octet-stream"}


class LiveServer:
    """Serves ``folder`` (a viewer folder) and the live socket on 127.0.0.1:``port`` (0: a free
    one) in a thread, until :meth:`close`.

    Raises:
        InputError: the port cannot be bound (in use).
    """

    def __init__(self, folder: Path, port: int = 0, *, greeting: dict):
        self.folder = Path(folder).resolve()
        self.greeting = json.dumps(greeting)
        self._clients: set[Latest[tuple[str, float | None]]] = set()
        self._lock = threading.Lock()
        self._last: tuple[str, float | None] | None = None
        self.latencies: deque[float] = deque(maxlen=10_000)
        """Seconds from capture to sent, of the messages sent (newest last)."""
        self.connections = 0
        try:
            self.server = serve(
                self._serve_client, "127.0.0.1", port, process_request=self._http, compression=None
            )
        except OSError as error:
            raise InputError(f"port {port}: cannot serve there ({error}); choose another --port.") from error
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, name="headsplat live: server", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/index.html"

    def publish(self, message: dict, captured: float | None = None) -> None:
        """Send ``message`` to every page (replacing one it has not been sent yet); ``captured``:
        the ``time.monotonic()`` its source sample arrived, for the latency record."""
        item = (json.dumps(message), captured)
        with self._lock:
            self._last = item
            for mailbox in self._clients:
                mailbox.put(item)

    def close(self) -> None:
        self.server.shutdown()
        with self._lock:
            for mailbox in self._clients:
                mailbox.close()

    def _serve_client(self, connection: ServerConnection) -> None:
        mailbox: Latest[tuple[str, float | None]] = Latest()
        with self._lock:
            self._clients.add(mailbox)
            self.connections += 1
            if self._last is not None:
                mailbox.put(self._last)
        try:
            connection.send(self.greeting)
            while True:
                item = mailbox.get(timeout=1.0)
                if item is None:
                    if mailbox.closed:  # the server is closing
                        return
                    connection.ping()  # raises once the page has gone
                    continue
                text, captured = item
                connection.send(text)
                if captured is not None:
                    self.latencies.append(time.monotonic() - captured)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.discard(mailbox)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        """The socket's path goes on to the WebSocket handshake; any other is a file of the folder."""
        path = request.path.split("?", 1)[0]
        if path == SOCKET_PATH:
            return None
        file = (self.folder / (path.lstrip("/") or "index.html")).resolve()
        if not file.is_file() or self.folder not in file.parents:
            return connection.respond(404, f"{path}: not found\n")
        body = file.read_bytes()
        kind = (
            CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        )
        headers = Headers(
            {"Content-Type": kind, "Content-Length": str(len(body)), "Cache-Control": "no-store"}
        )
        return Response(200, "OK", headers, body)
