"""A plain-HTTP server on 127.0.0.1 that misbehaves in ways the emulator does not.

Each path is answered by a script (a function of the socket and the request method), so a
test can send exactly the bytes it wants: bodies without a length, cut chunked bodies,
gzip bombs, bytes dripped one at a time. It shares nothing with the code under test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Callable

Script = Callable[[socket.socket, str], None]


class HostileServer:
    """Serves ``scripts[path]`` for each request; counts requests by ``(method, path)``."""

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.requests: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                piece = conn.recv(4096)
                if not piece:
                    return
                data += piece
            method, path, _ = data.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.requests.append((method, path))
            script = self.scripts.get(path)
            with contextlib.suppress(OSError):
                if script is None:
                    conn.sendall(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                else:
                    script(conn, method)

    def close(self) -> None:
        self.stop.set()
        self._listener.close()
        self._thread.join(2)


@contextlib.contextmanager
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
