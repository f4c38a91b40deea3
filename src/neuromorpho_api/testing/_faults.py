"""Fault injection for the emulator: which responses misbehave, and how they are sent."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from neuromorpho_api.testing._app import Reply

__all__ = ["HTML_ERROR_PAGE", "Fault", "FaultKind", "FaultPlan", "send_reply"]

FaultKind = Literal["status", "reset", "truncate", "stall", "html"]


@dataclass
class Fault:
    """A misbehaviour applied to the next *times* requests whose target matches *match*.

    Made by :meth:`FaultPlan.add`.

    Attributes:
        match (str): Regular expression searched in the request target (path and query).
        kind (str): ``"status"``, ``"reset"``, ``"truncate"``, ``"stall"`` or ``"html"``.
        times (int): How many matching requests it applies to.
        params (dict): The kind's parameters (see :meth:`FaultPlan.add`).
        hits (int): How many requests it has applied to so far.
    """

    match: str
    kind: FaultKind
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.match)

    def matches(self, target: str) -> bool:
        """Whether this fault applies to *target* (path and query).

        Args:
            target: The request target.

        Returns:
            Whether :attr:`match` is found in it (hits and times aside).
        """
        return self._pattern.search(target) is not None


class FaultPlan:
    """Faults to inject, checked in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, match: str, kind: FaultKind, *, times: int = 1, **params: Any) -> Fault:
        """Misbehave on the next *times* requests whose target (path and query) matches *match*.

        Kinds and their parameters: ``status`` (``status``, ``headers``, ``body``): answer that
        instead; ``reset`` (``after_bytes``): reset the connection before answering, or, with
        ``after_bytes``, after the headers and that many body bytes; ``truncate`` (``keep``: bytes, or a fraction of the body): send a
        full Content-Length but only part of the body, then close; ``stall`` (``seconds``,
        ``after_bytes``): pause before the body, or after that many body bytes; ``html``: a
        200 HTML error page instead of the real body.

        Args:
            match: Regular expression searched in the request target.
            kind: ``"status"``, ``"reset"``, ``"truncate"``, ``"stall"`` or ``"html"``.
            times: How many matching requests misbehave.
            **params: The kind's parameters, above.

        Returns:
            The fault; its ``hits`` counts the requests it applied to.

        Raises:
            ValueError: An unknown *kind*.
            re.error: *match* is not a regular expression.
        """
        if kind not in ("status", "reset", "truncate", "stall", "html"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(match, kind, times, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.hits < fault.times and fault.matches(target):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
    b"request due to maintenance downtime or capacity problems.</p></body></html>\n"
)


def send_reply(handler: BaseHTTPRequestHandler, reply: Reply, fault: Fault | None) -> None:
    """Send *reply* on *handler*'s connection, misbehaving as *fault* says."""
    status, headers, body = reply.status, list(reply.headers), reply.body
    params = fault.params if fault else {}
    kind = fault.kind if fault else None
    if kind == "status":
        status = int(params.get("status", 500))
        extra = params.get("headers") or {}
        headers = [("Content-Type", "application/json"), *extra.items()]
        raw = params.get("body", b'{"status":500,"error":"Internal Server Error"}')
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
    elif kind == "html":
        status, headers, body = 200, [("Content-Type", "text/html;charset=utf-8")], HTML_ERROR_PAGE
    if kind == "stall" and not params.get("after_bytes"):
        time.sleep(float(params.get("seconds", 5.0)))
    if kind == "reset" and params.get("after_bytes") is None:
        _reset(handler)
        return

    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    if kind not in ("reset", "truncate") and (
        handler.close_connection or handler.headers.get("Connection", "").lower() == "close"
    ):
        # Say so, as real servers do: a client that is not told may reuse the connection.
        handler.send_header("Connection", "close")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command == "HEAD":
        return

    sent = len(body)
    if kind == "reset":
        sent = int(params["after_bytes"])
    elif kind == "truncate":
        keep = params.get("keep", 0.5)
        sent = int(len(body) * keep) if isinstance(keep, float) else int(keep)
    elif kind == "stall":
        sent = int(params.get("after_bytes") or 0)
    sent = max(0, min(sent, len(body)))
    try:
        handler.wfile.write(body[:sent])
        handler.wfile.flush()
        if kind == "stall" and params.get("after_bytes"):
            time.sleep(float(params.get("seconds", 5.0)))
            handler.wfile.write(body[sent:])
            return
    except OSError:
        handler.close_connection = True
        return
    if kind == "reset":
        _reset(handler)
    elif kind == "truncate":
        handler.close_connection = True
    elif sent < len(body):
        handler.wfile.write(body[sent:])


def _reset(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    connection = handler.connection
    with contextlib.suppress(OSError):
        # SO_LINGER 0 makes close() send RST: a reset, not an orderly end of stream.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(connection.detach())
