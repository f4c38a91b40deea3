"""``verify=PATH`` trusts what PATH holds now, as in stock requests, not what it held once.

Each test compares with a stock ``requests.Session`` against a modern-TLS emulator (stock
requests cannot reach the legacy shape at all) and runs NeuroMorphoSession against both.
Every request closes its connection, so the next one needs a fresh handshake: a kept-alive,
already verified connection is reused by stock requests too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3

from neuromorpho_api import NeuroMorphoSession
from neuromorpho_api.testing import Emulator
from tests.conftest import PKI, make_emulator

HEALTH = "https://neuromorpho.org/api/health"
CLOSE = {"Connection": "close"}


@pytest.fixture(scope="module")
def modern_server(pki: PKI) -> Iterator[Emulator]:
    yield from make_emulator(pki.identity, profile="modern")


# Stock requests is the reference on urllib3 2. On urllib3 1.26 a pooled connection object
# keeps its SSLContext and loads the bundle into it again, so stock requests there still
# trusts a removed CA; this package refuses it on both.
SETUPS = ["ours on modern TLS", "ours on legacy TLS"]
if not urllib3.__version__.startswith("1."):
    SETUPS.insert(0, "stock on modern TLS")


@pytest.fixture(params=SETUPS)
def setup(
    request: pytest.FixtureRequest, legacy_server: Emulator, modern_server: Emulator
) -> Iterator[tuple[requests.Session, Emulator]]:
    server = legacy_server if request.param.endswith("legacy TLS") else modern_server
    session = requests.Session() if request.param.startswith("stock") else NeuroMorphoSession()
    server.reset()
    with server.active():
        yield session, server


def refused(session: requests.Session, verify: str) -> bool:
    try:
        session.get(HEALTH, verify=verify, headers=CLOSE)
    except requests.exceptions.SSLError as error:
        message = str(error)
    else:
        return False
    assert "CERTIFICATE_VERIFY_FAILED" in message
    return True


def same_length(text: bytes, length: int) -> bytes:
    assert len(text) <= length
    return text + b"\n" * (length - len(text))  # blank lines after a PEM block are ignored


def test_ca_removed_from_the_bundle_in_place_is_no_longer_trusted(
    setup: tuple[requests.Session, Emulator], pki: PKI, tmp_path: Path
) -> None:
    session, _ = setup
    bundle = tmp_path / "bundle.pem"
    shutil.copyfile(pki.identity.ca, bundle)
    assert not refused(session, str(bundle))
    bundle.write_bytes(Path(pki.client_ca_file).read_bytes())
    assert refused(session, str(bundle))


def test_rewrite_with_the_same_size_and_the_old_mtime_is_seen(
    setup: tuple[requests.Session, Emulator], pki: PKI, tmp_path: Path
) -> None:
    session, _ = setup
    ours, other = Path(pki.identity.ca).read_bytes(), Path(pki.client_ca_file).read_bytes()
    length = max(len(ours), len(other))
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(same_length(ours, length))
    assert not refused(session, str(bundle))
    before = bundle.stat()
    with open(bundle, "r+b") as out:  # same inode, same size
        out.write(same_length(other, length))
    os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert bundle.stat().st_size == before.st_size
    assert refused(session, str(bundle))


def test_bundle_replaced_by_rename_is_seen(
    setup: tuple[requests.Session, Emulator], pki: PKI, tmp_path: Path
) -> None:
    session, _ = setup
    bundle = tmp_path / "bundle.pem"
    shutil.copyfile(pki.identity.ca, bundle)
    assert not refused(session, str(bundle))
    replacement = tmp_path / "new.pem"
    shutil.copyfile(pki.client_ca_file, replacement)
    os.replace(replacement, bundle)
    assert refused(session, str(bundle))


def test_ca_added_to_the_bundle_is_trusted_from_then_on(
    setup: tuple[requests.Session, Emulator], pki: PKI, tmp_path: Path
) -> None:
    session, _ = setup
    bundle = tmp_path / "bundle.pem"
    shutil.copyfile(pki.client_ca_file, bundle)
    assert refused(session, str(bundle))
    with open(bundle, "ab") as out:
        out.write(Path(pki.identity.ca).read_bytes())
    assert not refused(session, str(bundle))


def subject_hash(pem: str) -> str:
    return subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", pem],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_ca_removed_from_a_verify_directory_is_no_longer_trusted(
    setup: tuple[requests.Session, Emulator], pki: PKI, tmp_path: Path
) -> None:
    session, _ = setup
    directory = tmp_path / "certs"
    directory.mkdir()
    trusted = directory / f"{subject_hash(pki.identity.ca)}.0"
    shutil.copyfile(pki.identity.ca, trusted)
    shutil.copyfile(pki.client_ca_file, directory / f"{subject_hash(pki.client_ca_file)}.0")
    assert not refused(session, str(directory))
    trusted.unlink()
    assert refused(session, str(directory))
    shutil.copyfile(pki.identity.ca, trusted)
    assert not refused(session, str(directory))
    # Rewritten in place under the same name: the directory itself does not change.
    with open(trusted, "r+b") as out:
        out.write(same_length(Path(pki.client_ca_file).read_bytes(), trusted.stat().st_size))
    assert refused(session, str(directory))


def test_contexts_for_a_rewritten_bundle_do_not_pile_up(
    legacy: Emulator, pki: PKI, tmp_path: Path
) -> None:
    session = NeuroMorphoSession()
    adapter = session.get_adapter("https://neuromorpho.org/")
    bundle = tmp_path / "bundle.pem"
    ca = Path(pki.identity.ca).read_bytes()
    for round_ in range(40):
        bundle.write_bytes(ca + b"\n" * round_)
        assert session.get(HEALTH, verify=str(bundle), headers=CLOSE).ok
    assert len(adapter._contexts) == 1
