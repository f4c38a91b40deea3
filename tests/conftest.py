"""Shared fixtures: a clean environment for every test, and throwaway PKIs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trustme

from neuromorpho_api.testing import Emulator, Identity

# Variables that silently change what `verify` and proxies mean (this machine sets some).
CLEARED_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SSLKEYLOGFILE",
    "NEUROMORPHO_MIRROR",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "no_proxy",
)

LOOKALIKES = ("neuromorpho.org.evil.test", "neuromorpho.orgevil.test", "other.test")
ALL_NAMES = ("neuromorpho.org", "www.neuromorpho.org", *LOOKALIKES)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class PKI:
    ca: trustme.CA
    identity: Identity  # neuromorpho.org, www. and the look-alikes, from `ca`
    rogue_identity: Identity  # the same names from a CA nobody trusts
    wrong_name_identity: Identity  # `ca`, but only for wrong.test
    client_ca_file: str
    client_cert_file: str
    client_key_file: str


def _identity(ca: trustme.CA, names: tuple[str, ...], directory: str, stem: str) -> Identity:
    import os

    leaf = ca.issue_cert(*names, "localhost", "127.0.0.1", key_type=trustme.KeyType.RSA)
    chain, key, ca_file = (os.path.join(directory, f"{stem}-{part}.pem") for part in "ckr")
    leaf.private_key_pem.write_to_path(key)
    with open(chain, "wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    ca.cert_pem.write_to_path(ca_file)
    return Identity(chain, key, ca_file)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = str(tmp_path_factory.mktemp("pki"))
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    rogue = trustme.CA(key_type=trustme.KeyType.RSA)
    client_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    client_id = _identity(client_ca, ("client.test",), directory, "client")
    return PKI(
        ca=ca,
        identity=_identity(ca, ALL_NAMES, directory, "good"),
        rogue_identity=_identity(rogue, ALL_NAMES, directory, "rogue"),
        wrong_name_identity=_identity(ca, ("wrong.test",), directory, "wrong"),
        client_ca_file=client_id.ca,
        client_cert_file=client_id.cert_chain,
        client_key_file=client_id.private_key,
    )


def make_emulator(identity: Identity, **kwargs: object) -> Iterator[Emulator]:
    emulator = Emulator(50, identity=identity, hosts=frozenset(ALL_NAMES), **kwargs)  # type: ignore[arg-type]
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def legacy_server(pki: PKI) -> Iterator[Emulator]:
    """NeuroMorpho.Org's TLS shape, with a certificate that also covers look-alike names."""
    yield from make_emulator(pki.identity)


@pytest.fixture
def legacy(legacy_server: Emulator) -> Iterator[Emulator]:
    legacy_server.reset()
    with legacy_server.active():
        yield legacy_server
