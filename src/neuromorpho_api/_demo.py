"""``neuromorpho demo`` and ``neuromorpho emulator``: the package and the CLI offline.

The only library module that uses the emulator (``neuromorpho_api.testing``), always lazily.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

    from neuromorpho_api.testing import Emulator
    from neuromorpho_api.testing._tlsserver import Profile

__all__ = ["run_demo", "run_emulator"]

DEMO_CRITERIA = {"species": "rat", "brain_region": "neocortex"}
DEMO_FILES = 8


def _say(quiet: bool, text: str = "") -> None:
    if not quiet:
        print(text)


def _demo_emulator(n_neurons: int) -> Emulator:
    from neuromorpho_api.testing import Emulator, Identity

    try:
        import trustme  # noqa: F401
    except ImportError:
        # A plain install: the shipped key, which anyone has. Safe here because only the
        # demo's own sessions trust it, and only for what the emulator routes.
        return Emulator(n_neurons, identity=Identity.shipped())
    return Emulator(n_neurons)


def _isolated(session: requests.Session, ca_file: str) -> requests.Session:
    # Neither the user's proxies nor REQUESTS_CA_BUNDLE apply: the demo talks to its emulator
    # directly, trusting its CA and nothing else.
    session.trust_env = False
    session.verify = ca_file
    return session


def run_demo(out: str, *, quiet: bool = False, n_neurons: int = 600) -> int:
    """Start the emulator, search and download a few SWC files into *out*; return 0."""
    import requests

    from neuromorpho_api._client import NeuroMorpho
    from neuromorpho_api._explain import is_dh_key_too_small
    from neuromorpho_api._records import write_records
    from neuromorpho_api._session import NeuroMorphoSession

    def say(text: str = "") -> None:
        _say(quiet, text)

    say("Starting the NeuroMorpho.Org emulator on 127.0.0.1 (real TLS, no network needed)...")
    with _demo_emulator(n_neurons) as emulator, NeuroMorphoSession() as session:
        _isolated(session, emulator.ca_file)
        say(
            f"  {len(emulator.database.neurons)} synthetic neurons, TLS shape of the real site: "
            "TLS 1.2, DHE-RSA, 1024-bit group"
        )
        say()
        say("1. The problem: plain requests refuses the server's 1024-bit DH group")
        with _isolated(requests.Session(), emulator.ca_file) as plain:
            try:
                plain.get("https://neuromorpho.org/api/health", timeout=10)
                say("   plain requests: connected (this OpenSSL accepts the group)")
            except requests.exceptions.SSLError as error:
                reason = "DH_KEY_TOO_SMALL" if is_dh_key_too_small(error) else str(error)[:120]
                say(f"   plain requests:  SSLError {reason}")
        health = session.get("https://neuromorpho.org/api/health").json()
        handshakes = [handshake for handshake in emulator.handshakes if handshake.ok]
        if handshakes:
            handshake = handshakes[-1]
            say(
                f"   neuromorpho_api: {health} over {handshake.protocol} {handshake.cipher}, "
                f"{handshake.dh_bits}-bit DH, certificate and host name verified"
            )
        say()

        client = NeuroMorpho(session=session)
        criteria = ", ".join(f"{k}={v}" for k, v in DEMO_CRITERIA.items())
        say(f"2. Search: {criteria}")
        total = client.count(DEMO_CRITERIA)
        say(f"   {total} matching neurons; the first five:")
        if not quiet:
            write_records(client.search(DEMO_CRITERIA, limit=5), "table", sys.stdout)
        say()

        say(f"3. Download the standardized SWC files of {DEMO_FILES} of them into {out}/")
        report = client.download(
            DEMO_CRITERIA, out, limit=DEMO_FILES, metadata="jsonl", progress=False
        )
        say(f"   {report}")
        for failure in report.failed:
            say(f"   not written: {failure.name}: {failure.reason}")
        if report.failed:
            say(
                "   (the emulator, like the real site, has a few missing and broken files: "
                "they are reported by name, never written)"
            )
        again = client.download(DEMO_CRITERIA, out, limit=DEMO_FILES, progress=False)
        say(f"   run again (resumes, verifies by sha256): {again}")
        swc_files = sorted(name for name in os.listdir(out) if name.endswith(".swc"))
        if swc_files:
            first = os.path.join(out, swc_files[0])
            with open(first, "rb") as handle:
                head = handle.read(2000).decode("utf-8", "replace").splitlines()[:12]
            say(f"   {first}:")
            for line in head:
                say(f"     {line}")
        say()
    say("Done. Against the real site, the same steps are:")
    say("  neuromorpho count species=rat brain_region=neocortex")
    say("  neuromorpho download species=rat brain_region=neocortex --out swc/")
    say("  neuromorpho doctor      # does this machine need the TLS workaround?")
    return 0 if report.downloaded or report.skipped else 1


def run_emulator(
    *,
    n_neurons: int = 3000,
    seed: int = 0,
    profile: Profile = "legacy",
    latency: float = 0.0,
    port: int = 0,
    quiet: bool = False,
) -> int:
    """Serve the emulator in the foreground until Ctrl-C or SIGTERM; return 0.

    Prints to standard output the ``export`` lines that point a shell at it (its proxy and a
    CA bundle trusting this run's CA); everything else goes to standard error.

    Raises:
        ImportError: trustme is not installed (the emulator needs a CA of its own to export).
        OSError: *port* cannot be bound.
    """
    import shlex
    import signal
    import threading

    from neuromorpho_api.testing import Emulator

    try:
        emulator = Emulator(n_neurons, seed=seed, profile=profile, latency=latency, proxy_port=port)
    except OSError as error:
        raise OSError(f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None
    stopped = threading.Event()
    try:
        emulator.start()
        for name, value in emulator.environ().items():
            print(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        if not quiet:
            print(
                f"NeuroMorpho.Org emulator: {len(emulator.database.neurons)} neurons (seed "
                f"{seed}), {profile} TLS, through the proxy {emulator.proxy_url}.\n"
                "Run the export lines above in another shell; its clients then reach the "
                "emulator at https://neuromorpho.org. Ctrl-C stops it and deletes its CA.",
                file=sys.stderr,
                flush=True,
            )
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = (
            signal.signal(signal.SIGTERM, lambda *_: stopped.set()) if in_main_thread else None
        )
        try:
            # A timeout keeps the wait interruptible by Ctrl-C on every platform.
            while not stopped.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
    finally:
        emulator.stop()
    if not quiet:
        print("emulator stopped", file=sys.stderr)
    return 0
