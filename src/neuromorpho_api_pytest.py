"""pytest fixtures for testing code that talks to NeuroMorpho.Org, offline.

Registered automatically (entry point ``pytest11``) when neuromorpho-api is installed::

    def test_my_pipeline(neuromorpho_emulator):
        rats = list(NeuroMorpho().search(species="rat"))
        assert len(rats) == len(neuromorpho_emulator.database.search("species:rat"))

The emulator needs trustme (``pip install "neuromorpho-api[emulator]"``) for the CA it makes
for each session; the fixture says so when it is missing.

pytest loads this module in every session of everyone who installed the package, so it sits
outside the package and imports nothing but pytest: the emulator, requests and urllib3 load
when a test first asks for a fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from neuromorpho_api.testing import Emulator

__all__ = ["neuromorpho_emulator", "neuromorpho_emulator_server"]


@pytest.fixture(scope="session")
def neuromorpho_emulator_server() -> Iterator[Emulator]:
    """One emulator (3,000 neurons, the real server's TLS shape) for the whole test session.

    Session-scoped. Started, not activated: use it for its URLs and :meth:`Emulator.environ`,
    or take ``neuromorpho_emulator`` to route NeuroMorpho.Org to it.

    Yields:
        The started :class:`~neuromorpho_api.testing.Emulator`, stopped after the session.

    Raises:
        ImportError: trustme (the ``emulator`` extra) is not installed.
    """
    from neuromorpho_api.testing import Emulator

    emulator = Emulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def neuromorpho_emulator(neuromorpho_emulator_server: Emulator) -> Iterator[Emulator]:
    """The emulator, active for this test: NeuroMorpho.Org's URLs reach it.

    Function-scoped, over the session's ``neuromorpho_emulator_server``. Options, faults and
    logs are reset before and after the test.

    Yields:
        The active :class:`~neuromorpho_api.testing.Emulator`.
    """
    emulator = neuromorpho_emulator_server
    emulator.reset()
    with emulator.active():
        yield emulator
    emulator.reset()
