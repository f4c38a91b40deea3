"""Fixtures: a mirror synced once from the session's emulator, copied for tests that change it."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuromorpho_api import NeuroMorphoSession
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._mirror import Mirror, sync
from neuromorpho_api.testing import Emulator
from tests.conftest import CLEARED_VARIABLES


@pytest.fixture(scope="session")
def synced_file(
    neuromorpho_emulator_server: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A mirror of the 3,000-neuron emulator with morphometry, pvec and literature."""
    path = tmp_path_factory.mktemp("mirror") / "golden.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        for name in CLEARED_VARIABLES:
            mp.delenv(name, raising=False)
        with neuromorpho_emulator_server.active(), NeuroMorphoSession() as session:
            client = NeuroMorpho(session=session, rate_limit=None)
            report = sync(client, path, pvec=True, literature=True, progress=False)
    assert report.added == report.total == 3000 and not report.mismatches
    neuromorpho_emulator_server.reset()
    return path


@pytest.fixture
def emu(neuromorpho_emulator: Emulator) -> Emulator:
    return neuromorpho_emulator


@pytest.fixture
def nmo(emu: Emulator) -> Iterator[NeuroMorpho]:
    with NeuroMorphoSession() as session:
        # The server's own answers, also for values it does not store (``species="CAT"``).
        yield NeuroMorpho(session=session, rate_limit=None, check_values=False)


@pytest.fixture
def mirror_path(synced_file: Path, tmp_path: Path) -> Path:
    """A private copy of the synced mirror, free to change."""
    path = tmp_path / "mirror.sqlite"
    shutil.copyfile(synced_file, path)
    return path


@pytest.fixture(scope="session")
def mirror(synced_file: Path) -> Iterator[Mirror]:
    with Mirror(synced_file) as opened:
        yield opened


@contextlib.contextmanager
def connected(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """A plain SQLite connection to ``path`` in one transaction, closed afterwards.

    (``with sqlite3.connect(...)`` commits but never closes, which Python 3.13 warns about.)
    """
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()
