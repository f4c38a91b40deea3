"""The emulator's transport: latency model, TCP_NODELAY, request and handshake logs, in-flight peak."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from neuromorpho_api.testing import Emulator

RTT = 0.25


class SleepLog:
    """Stands in for ``time.sleep`` in the servers: records the modelled waits, waits none."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)

    def take(self) -> list[float]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    emulator = Emulator(200, profile="modern").start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def emu(server: Emulator) -> Iterator[Emulator]:
    server.reset()
    yield server
    server.latency = 0.0
    server._servers.sleep = time.sleep
    server.app.before_request = None
    server.reset()


@pytest.fixture
def sleeps(emu: Emulator) -> SleepLog:
    log = SleepLog()
    emu._servers.sleep = log
    return log


def context(emu: Emulator, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def connection(
    emu: Emulator, ctx: ssl.SSLContext, *, proxy: bool = False
) -> http.client.HTTPSConnection:
    if proxy:
        port = int(emu.proxy_url.rsplit(":", 1)[1])
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.set_tunnel("neuromorpho.org", 443)
        return conn
    conn = http.client.HTTPSConnection("127.0.0.1", emu.port, context=ctx, timeout=10)
    conn._server_hostname = "neuromorpho.org"  # type: ignore[attr-defined]
    return conn


def get(conn: http.client.HTTPSConnection, target: str) -> bytes:
    conn.request("GET", target, headers={"Host": "neuromorpho.org"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, body[:200]
    return body


# ------------------------------------------------------------------------------ latency model


def test_no_latency_means_no_wait(emu: Emulator, sleeps: SleepLog) -> None:
    conn = connection(emu, context(emu))
    get(conn, "/api/health")
    get(conn, "/api/health")
    conn.close()
    assert sleeps.take() == []
    assert [h.round_trips for h in emu.handshakes] == [0]


@pytest.mark.parametrize(
    ("maximum", "protocol", "flights"),
    [(None, "TLSv1.3", 1), (ssl.TLSVersion.TLSv1_2, "TLSv1.2", 2)],
)
def test_a_new_connection_pays_connect_handshake_flights_and_request(
    emu: Emulator, sleeps: SleepLog, maximum: ssl.TLSVersion | None, protocol: str, flights: int
) -> None:
    emu.latency = RTT
    conn = connection(emu, context(emu, maximum))
    get(conn, "/api/health")
    # one for the TCP connect, one per handshake flight, one for the request
    assert sleeps.take() == [RTT] * (1 + flights + 1)
    get(conn, "/api/health")  # a kept-alive connection pays the request only
    assert sleeps.take() == [RTT]
    conn.close()
    (handshake,) = emu.handshakes
    assert (handshake.protocol, handshake.round_trips) == (protocol, flights)


def test_a_resumed_tls12_session_pays_one_flight(emu: Emulator, sleeps: SleepLog) -> None:
    emu.latency = RTT
    ctx = context(emu, ssl.TLSVersion.TLSv1_2)
    first = connection(emu, ctx)
    get(first, "/api/health")
    session = first.sock.session
    first.close()
    sleeps.take()
    raw = ctx.wrap_socket(
        __import__("socket").create_connection(("127.0.0.1", emu.port)),
        server_hostname="neuromorpho.org",
        session=session,
    )
    try:
        assert raw.session_reused
        raw.sendall(b"GET /api/health HTTP/1.1\r\nHost: neuromorpho.org\r\n\r\n")
        assert raw.recv(1000).startswith(b"HTTP/1.1 200")
    finally:
        raw.close()
    assert sleeps.take() == [RTT, RTT, RTT]  # connect, one flight, the request
    assert [h.round_trips for h in emu.handshakes] == [2, 1]


def test_through_the_proxy_the_connect_round_trip_is_paid_once(
    emu: Emulator, sleeps: SleepLog
) -> None:
    emu.latency = RTT
    conn = connection(emu, context(emu, ssl.TLSVersion.TLSv1_2), proxy=True)
    get(conn, "/api/health")
    conn.close()
    # CONNECT (the proxy's connect to the server), two flights, the request: no second connect
    assert sleeps.take() == [RTT] * 4
    assert emu.proxy_tunnels == ["neuromorpho.org:443"]


def test_the_round_trips_are_waited_where_a_client_sees_them(emu: Emulator) -> None:
    emu.latency = 0.1
    ctx = context(emu, ssl.TLSVersion.TLSv1_2)
    import socket

    start = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", emu.port))
    tls = ctx.wrap_socket(sock, server_hostname="neuromorpho.org")
    handshake = time.monotonic() - start
    tls.sendall(b"GET /api/health HTTP/1.1\r\nHost: neuromorpho.org\r\n\r\n")
    assert tls.recv(1000).startswith(b"HTTP/1.1 200")
    total = time.monotonic() - start
    tls.close()
    assert handshake >= 0.2  # connect + first flight, always before the handshake ends
    assert total >= 0.4  # + the second flight + the request


def test_server_time_grows_with_the_rows_in_the_page(emu: Emulator, sleeps: SleepLog) -> None:
    emu.options.server_time_per_row = 0.001
    conn = connection(emu, context(emu))
    page = json.loads(get(conn, "/api/neuron?page=0&size=30"))
    assert len(page["_embedded"]["neuronResources"]) == 30
    get(conn, "/api/neuron/select?q=species:rat&size=7")
    get(conn, "/api/neuron/id/1")  # not a page: no server time
    conn.close()
    assert sleeps.take() == pytest.approx([0.030, 0.007])


# ------------------------------------------------------------------------------ TCP_NODELAY


def test_small_responses_through_the_proxy_are_not_held_back_by_nagle(emu: Emulator) -> None:
    # Without TCP_NODELAY on the relay, a response's second segment waits for the client's
    # delayed ACK: 25-40 ms each here (40 requests: 1 s or more); with it, about 1 ms.
    conn = connection(emu, context(emu), proxy=True)
    get(conn, "/api/health")
    start = time.monotonic()
    for _ in range(40):
        get(conn, "/api/neuron/id/1")
    elapsed = time.monotonic() - start
    conn.close()
    assert elapsed < 0.4


# ------------------------------------------------------------------------------ logs


def test_requests_carry_their_connection_and_times(emu: Emulator) -> None:
    before = time.monotonic()
    first = connection(emu, context(emu))
    get(first, "/api/health")
    get(first, "/api/neuron/id/1")
    second = connection(emu, context(emu))
    get(second, "/api/health")
    first.close()
    second.close()
    after = time.monotonic()
    records = emu.requests
    assert [r.target for r in records] == ["/api/health", "/api/neuron/id/1", "/api/health"]
    a, b, c = (r.connection for r in records)
    assert a == b != c and a > 0 and c > 0
    assert all(before <= r.started <= r.ended <= after for r in records)
    assert records[0].ended <= records[1].started
    handshakes = emu.handshakes
    assert [h.connection for h in handshakes] == [a, c]
    assert all(before <= h.started <= h.ended <= records[0].started for h in handshakes[:1])


def test_peak_in_flight_counts_requests_handled_at_once(emu: Emulator) -> None:
    gate = threading.Barrier(3, timeout=10)

    def hold(method: str, target: str) -> None:
        if "hold" in target:
            gate.wait()  # returns only when three requests are being handled

    emu.app.before_request = hold
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            conn = connection(emu, context(emu))
            conn.request("GET", "/api/neuron/select?q=species:rat&hold=1")
            conn.getresponse().read()
            conn.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert emu.peak_in_flight == 3
    emu.reset()
    conn = connection(emu, context(emu))
    for _ in range(3):
        get(conn, "/api/health")
    conn.close()
    assert emu.peak_in_flight == 1
