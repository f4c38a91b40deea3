"""A time limit per file: one thread that cuts the connection of a file past its deadline.

The read timeout bounds each wait for a byte, not the whole body: a server that drips a byte
just inside it would hold a worker for ever. Checking the clock between chunks does not help
either (a 64 KiB read waits for 64 KiB), so the watchdog shuts the socket down under the read,
which then fails at once, and the fetch reports the deadline as the reason.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Callable

__all__ = ["Watchdog", "response_socket"]

# How often the watchdog looks at the clock; the limit is minutes, so this costs nothing.
POLL_SECONDS = 0.1


def response_socket(response: Any) -> socket.socket | None:
    """The socket under a streamed ``requests`` response, if it can be found.

    The connection's ``sock`` while the connection is kept alive; after ``Connection: close``
    http.client drops that reference, and only the response's file (a ``SocketIO``) holds it.
    """
    raw = getattr(response, "raw", None)
    connection = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    buffered = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class Watchdog:
    """Watches deadlines on the monotonic *clock*; shuts down the sockets that pass theirs."""

    def __init__(self, clock: Callable[[], float], stop: threading.Event) -> None:
        self.clock = clock
        self._stop = stop
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, socket.socket, list[bool]]] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def watch(self, key: int, deadline: float, sock: socket.socket, expired: list[bool]) -> None:
        """Shut *sock* down once the clock passes *deadline*; set ``expired[0]`` first."""
        with self._lock:
            self._watched[key] = (deadline, sock, expired)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="neuromorpho-download-watchdog", daemon=True
                )
                self._thread.start()

    def forget(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def close(self) -> None:
        self._closed.set()

    def _run(self) -> None:
        while not self._closed.wait(POLL_SECONDS) and not self._stop.is_set():
            now = self.clock()
            with self._lock:
                late = [key for key, (deadline, _, _) in self._watched.items() if now > deadline]
                for key in late:
                    _, sock, expired = self._watched.pop(key)
                    expired[0] = True
                    with contextlib.suppress(OSError):
                        # The plain socket's shutdown, also under TLS: it wakes the blocked
                        # read without touching the TLS object another thread is using.
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def monotonic() -> float:
    """The default clock (tests replace :data:`neuromorpho_api._download._fetch.clock`)."""
    return time.monotonic()
