"""Name resolution for the emulator: NeuroMorpho.Org's names point to loopback, and nothing
else leaves the machine, while an emulator is active.

``socket.getaddrinfo`` is replaced only between :func:`activate` and :func:`deactivate`
(never at import), so connections keep their real host names, SNI and certificates.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["RouteTable", "activate", "deactivate"]


@dataclass(frozen=True, eq=False)
class RouteTable:
    """Host names served by one emulator: port 80 goes to *http_port*, any other to *https_port*."""

    hosts: frozenset[str]
    http_port: int
    https_port: int
    isolate: bool

    def port_for(self, port: Any) -> int:
        return self.http_port if str(port) in ("80", "http") else self.https_port


_lock = threading.Lock()
_active: list[RouteTable] = []
_original: Callable[..., Any] | None = None


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _getaddrinfo(
    host: str | bytes | None, port: Any, family: int = 0, type: int = 0, *args: Any, **kwargs: Any
) -> Any:
    assert _original is not None
    name = host.decode("idna") if isinstance(host, bytes) else host
    if name is None or _is_loopback(name):
        return _original(host, port, family, type, *args, **kwargs)
    key = name.lower().rstrip(".")
    with _lock:
        tables = list(_active)
    for table in reversed(tables):
        if key in table.hosts:
            if family not in (0, socket.AF_INET):
                raise socket.gaierror(socket.EAI_FAMILY, f"{name}: emulator listens on IPv4 only")
            return [
                (
                    socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    ("127.0.0.1", table.port_for(port)),
                )
            ]
    if any(table.isolate for table in tables):
        raise socket.gaierror(
            socket.EAI_NONAME,
            f"{name}: not resolved, the NeuroMorpho.Org emulator keeps all traffic on this machine",
        )
    return _original(host, port, family, type, *args, **kwargs)


def activate(table: RouteTable) -> None:
    """Start routing *table*'s hosts to loopback (nestable; the latest table wins)."""
    global _original
    with _lock:
        if not _active:
            _original = socket.getaddrinfo
            socket.getaddrinfo = _getaddrinfo
        _active.append(table)


def deactivate(table: RouteTable) -> None:
    """Stop routing *table*; the original resolver returns when no table is left."""
    global _original
    with _lock:
        if table in _active:
            _active.remove(table)
        if not _active and _original is not None:
            socket.getaddrinfo = _original
            _original = None
