"""End to end: the lowered level reaches the two hosts under every spelling, and no look-alike.

The emulator routes every name below to itself and its certificate covers them all, so each
request makes a real TLS handshake with a server shaped like NeuroMorpho.Org (DHE, 1024-bit
group). A ``DH_KEY_TOO_SMALL`` refusal therefore proves that the request reached the emulator
with the stock security level: the name resolved, and nothing but the level stood in the way.
Nothing else resolves while the emulator is active.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import urllib3

from neuromorpho_api import NeuroMorphoAdapter, NeuroMorphoSession
from neuromorpho_api.testing import Emulator
from tests.conftest import PKI, _identity

# URL host -> the name the server sees (SNI) once requests has normalised it.
TWO_HOSTS = {
    "neuromorpho.org": "neuromorpho.org",
    "www.neuromorpho.org": "www.neuromorpho.org",
    "NEUROMORPHO.ORG": "neuromorpho.org",
    "Www.NeuroMorpho.Org": "www.neuromorpho.org",
    "neuromorpho.org.": "neuromorpho.org",
    "WWW.NEUROMORPHO.ORG.": "www.neuromorpho.org",
    "neuromorpho.org:443": "neuromorpho.org",
}

# Unicode spellings that IDNA could map to the real name (full-width letters, an ideographic
# full stop, a circled letter): requests refuses them as invalid URLs before connecting, and so
# does this session.
UNPARSABLE = (
    "\uff4e\uff45\uff55\uff52\uff4f\uff4d\uff4f\uff52\uff50\uff48\uff4f.org",
    "neuromorpho\u3002org",
    "\u24ddeuromorpho.org",
)

# URL host -> the routed (and certified) name it stands for.
LOOKALIKES = {
    "evilneuromorpho.org": "evilneuromorpho.org",
    "EvilNeuroMorpho.org.": "evilneuromorpho.org",
    "wwwneuromorpho.org": "wwwneuromorpho.org",
    "x.neuromorpho.org": "x.neuromorpho.org",
    "X.NeuroMorpho.Org.": "x.neuromorpho.org",
    "www.www.neuromorpho.org": "www.www.neuromorpho.org",
    "neuromorpho.org.evil.com": "neuromorpho.org.evil.com",
    "NEUROMORPHO.ORG.EVIL.COM.": "neuromorpho.org.evil.com",
    "www.neuromorpho.org.evil.com": "www.neuromorpho.org.evil.com",
    "neuromorpho.orgevil.com": "neuromorpho.orgevil.com",
    "neuromorpho.com": "neuromorpho.com",
    # A Cyrillic "o" (IDNA: xn--neuromorph-nvi.org), in Unicode and already encoded.
    "neuromorph\u043e.org": "xn--neuromorph-nvi.org",
    "xn--neuromorph-nvi.org": "xn--neuromorph-nvi.org",
}

# urllib3 1.26 keeps a trailing dot in the name it checks against the certificate when it
# tunnels through a proxy, so such a request fails verification there, with stock requests too.
NAME_CHECK_KEEPS_THE_DOT_BEHIND_PROXIES = urllib3.__version__.startswith("1.")


def fails_name_check(session: requests.Session, host: str) -> bool:
    return (
        NAME_CHECK_KEEPS_THE_DOT_BEHIND_PROXIES
        and "https" in session.proxies
        and host.split(":")[0].endswith(".")
    )


ROUTED = frozenset({"neuromorpho.org", "www.neuromorpho.org", *LOOKALIKES.values()})


@pytest.fixture(scope="module")
def lookalike_server(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    directory = str(tmp_path_factory.mktemp("lookalikes"))
    identity = _identity(pki.ca, tuple(sorted(ROUTED)), directory, "lookalikes")
    emulator = Emulator(20, identity=identity, hosts=ROUTED)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(params=["direct", "through a proxy"])
def server(request: pytest.FixtureRequest, lookalike_server: Emulator) -> Iterator[Emulator]:
    lookalike_server.reset()
    with lookalike_server.active():
        yield lookalike_server


@pytest.fixture
def session(request: pytest.FixtureRequest, server: Emulator) -> NeuroMorphoSession:
    """A fresh session; in the proxy variant, every https request goes through the CONNECT
    proxy (given explicitly: the active emulator keeps its routed names off environment
    proxies)."""
    session = NeuroMorphoSession()
    if "proxy" in request.node.callspec.params["server"]:
        session.proxies["https"] = server.proxy_url
    return session


def stock_like(session: requests.Session) -> requests.Session:
    stock = requests.Session()
    stock.proxies.update(session.proxies)
    return stock


@pytest.mark.parametrize("host", sorted(TWO_HOSTS))
def test_every_spelling_of_the_two_hosts_gets_the_lowered_level(
    server: Emulator, session: NeuroMorphoSession, host: str
) -> None:
    if fails_name_check(session, host):
        # Refused, never weakened; stock requests with urllib3 1.26 refuses such a name behind
        # a proxy the same way (this server's DH group stops it even earlier).
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            session.get(f"https://{host}/api/health")
        return
    response = session.get(f"https://{host}/api/health")
    assert response.json() == {"status": "UP"}
    handshake = server.handshakes[-1]
    assert handshake.ok
    assert handshake.dh_bits == 1024
    assert handshake.server_name == TWO_HOSTS[host]
    assert len(server.proxy_tunnels) == ("https" in session.proxies)


@pytest.mark.parametrize("host", sorted(LOOKALIKES))
def test_lookalikes_keep_the_stock_level(
    server: Emulator, session: NeuroMorphoSession, host: str
) -> None:
    with pytest.raises(requests.exceptions.SSLError) as error:
        session.get(f"https://{host}/api/health")
    assert "DH_KEY_TOO_SMALL" in str(error.value) or "dh key too small" in str(error.value)
    assert not server.requests
    if "https" in session.proxies:
        [tunnel] = server.proxy_tunnels
        assert tunnel.lower().replace(".:", ":") == f"{LOOKALIKES[host]}:443"


@pytest.mark.parametrize("host", UNPARSABLE)
def test_unicode_spellings_are_refused_before_connecting_as_in_requests(
    server: Emulator, session: NeuroMorphoSession, host: str
) -> None:
    with pytest.raises(requests.exceptions.InvalidURL):
        stock_like(session).get(f"https://{host}/api/health")
    with pytest.raises(requests.exceptions.InvalidURL):
        session.get(f"https://{host}/api/health")
    assert not server.requests
    assert not server.proxy_tunnels


def test_the_lookalikes_are_reachable_at_all(server: Emulator, session: NeuroMorphoSession) -> None:
    """The control: with the level lowered for them, every look-alike answers.

    An adapter cannot be asked to lower the level for other hosts, so this patches its rule:
    it shows that the refusals above come from the rule, not from routing or certificates.
    """
    adapter = session.get_adapter("https://neuromorpho.org/")
    assert isinstance(adapter, NeuroMorphoAdapter)
    adapter.applies_to = lambda host: True  # type: ignore[method-assign]
    for host in sorted(LOOKALIKES):
        if fails_name_check(session, host):
            continue  # refused by urllib3 1.26's name check, see above
        assert session.get(f"https://{host}/api/health").json() == {"status": "UP"}, host
    assert {h.server_name for h in server.handshakes if h.ok} == set(LOOKALIKES.values())
