"""A requests transport adapter that lowers the TLS security level for NeuroMorpho.Org only."""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.models import PreparedRequest, Response
from urllib3.exceptions import ReadTimeoutError

from neuromorpho_api._explain import explain_ssl_error
from neuromorpho_api._tls import (
    NEUROMORPHO_HOSTS,
    _new_context,
    extract_zipped_paths,
    is_neuromorpho_host,
)

if TYPE_CHECKING:
    # What types-requests says the hook returns; requests itself builds plain dicts.
    from requests.adapters import _HostParams, _PoolKwargs

__all__ = ["NeuroMorphoAdapter", "PlainAdapter", "pool_maxsize"]

_Verify = Union[bool, str]
_Cert = Union[str, tuple[str, str], None]
_ContextKey = tuple[Optional[tuple[str, str]], Optional[tuple[str, Optional[str]]]]
_Stamp = tuple[tuple[object, ...], ...]

_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.r?[0-9]+\Z")

# Enough for every (verify, cert) combination a real program uses; bounded so a program that
# cycles through temporary CA files cannot grow the cache without limit. A rewritten file
# replaces its entry rather than adding one.
_MAX_CONTEXTS = 32


class HintedSSLError(requests.exceptions.SSLError):
    """A requests ``SSLError`` whose message ends with what to do about it.

    ``args`` are the original ones (urllib3's ``MaxRetryError`` first), as with stock requests.
    """

    def __init__(self, *args: Any, hint: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hint = hint

    def __str__(self) -> str:
        return f"{super().__str__()} -- {self.hint}"


def _keep_timeouts(
    send: Callable[..., Response], request: PreparedRequest, *args: Any, **kwargs: Any
) -> Response:
    """Call *send*, raising ReadTimeout for a read timeout even after retries ran out.

    With read retries enabled, urllib3 wraps the last ReadTimeoutError in MaxRetryError and
    requests turns that into a plain ConnectionError, which ``except requests.Timeout`` misses.
    """
    try:
        return send(request, *args, **kwargs)
    except requests.exceptions.ConnectionError as error:
        cause = error.args[0] if error.args else None
        if isinstance(getattr(cause, "reason", None), ReadTimeoutError):
            raise requests.exceptions.ReadTimeout(error, request=request) from error
        raise


class PlainAdapter(HTTPAdapter):
    """The stock adapter, except that read timeouts stay ``ReadTimeout`` after retries."""

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        return _keep_timeouts(super().send, request, *args, **kwargs)


class NeuroMorphoAdapter(HTTPAdapter):
    """An :class:`~requests.adapters.HTTPAdapter` that reaches NeuroMorpho.Org.

    Requests whose parsed host is exactly one of :data:`~neuromorpho_api.NEUROMORPHO_HOSTS`
    (any case, any port, one trailing dot) use a context at OpenSSL security level 1; every
    other host gets urllib3's stock context. Certificate and hostname verification stay on, and
    ``verify=``, ``cert=``, ``REQUESTS_CA_BUNDLE`` and proxies mean what they mean in requests.
    Mount it on ``"https://"`` of any session::

        session.mount("https://", NeuroMorphoAdapter())

    A TLS failure on one of those hosts caused by the DH group or by certificate verification
    is raised as a subclass of :class:`requests.exceptions.SSLError` whose message ends with a
    hint; a read timeout stays :class:`requests.exceptions.ReadTimeout` after the retries.

    Args:
        *args: As :class:`~requests.adapters.HTTPAdapter` (``pool_connections``,
            ``pool_maxsize``, ``max_retries``, ``pool_block``).
        hosts: The hosts that get the lowered security level: a subset of
            :data:`~neuromorpho_api.NEUROMORPHO_HOSTS` (default: both).
        **kwargs: As :class:`~requests.adapters.HTTPAdapter`.

    Attributes:
        hosts: The hosts that get the lowered security level.

    Raises:
        ValueError: *hosts* names a host other than NeuroMorpho.Org's two.
        RuntimeError: The installed requests is older than 2.32.4.
    """

    __attrs__ = [*HTTPAdapter.__attrs__, "hosts"]  # noqa: RUF012 (requests declares it this way)
    hosts: frozenset[str] = NEUROMORPHO_HOSTS

    def __init__(self, *args: Any, hosts: Iterable[str] = NEUROMORPHO_HOSTS, **kwargs: Any) -> None:
        if not hasattr(HTTPAdapter, "build_connection_pool_key_attributes"):
            raise RuntimeError(
                "neuromorpho_api needs requests>=2.32.4: older releases cannot apply a "
                "per-host TLS context (installed: requests "
                f"{getattr(requests, '__version__', '?')})"
            )
        hosts = frozenset(hosts)
        unknown = hosts - NEUROMORPHO_HOSTS
        if unknown:
            raise ValueError(
                f"the lowered security level is only for {sorted(NEUROMORPHO_HOSTS)}, "
                f"not {sorted(unknown)}"
            )
        self.hosts = hosts
        super().__init__(*args, **kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        # Runs on construction and on unpickling, where the contexts cannot come along
        # (SSLContext does not pickle): a new pool manager starts with no contexts.
        self._contexts_lock = threading.Lock()
        self._contexts: OrderedDict[_ContextKey, tuple[_Stamp, ssl.SSLContext]] = OrderedDict()
        # Every context this adapter made, including replaced ones still held by a pool.
        self._built: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def applies_to(self, host: str | None) -> bool:
        """Whether requests to *host* use the lowered security level.

        Args:
            host: A parsed host name (not a URL), any case, with or without a trailing dot.

        Returns:
            ``True`` only for one of :attr:`hosts`.
        """
        return is_neuromorpho_host(host) and (host or "").lower().rstrip(".") in self.hosts

    # -- context selection ---------------------------------------------------------------

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: _Verify, cert: _Cert = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params.get("scheme") == "https" and self.applies_to(host_params.get("host")):
            key = _context_key(verify, cert)
            if key is not None:
                try:
                    pool_kwargs["ssl_context"] = self._context_for(key)
                except (ssl.SSLError, OSError) as error:
                    raise requests.exceptions.SSLError(error, request=request) from error
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: _Verify, cert: _Cert) -> None:
        # The stubs leave the base method untyped; this is the signature requests documents.
        stock_cert_verify: Callable[[Any, str, _Verify, _Cert], None] = super().cert_verify
        stock_cert_verify(conn, url, verify, cert)
        context = getattr(conn, "conn_kw", {}).get("ssl_context")
        if context is None or not self._owns(context):
            return
        # Our context already holds the trust and the client certificate. Left on the pool,
        # these make urllib3 reload the CA bundle into it for every new connection (~21 ms).
        # Behind an HTTPS proxy they also verify the proxy leg, so they stay there.
        proxy = getattr(conn, "proxy", None)
        if proxy is not None and getattr(proxy, "scheme", None) == "https":
            return
        conn.ca_certs = None
        conn.ca_cert_dir = None
        conn.cert_file = None
        conn.key_file = None

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        try:
            return _keep_timeouts(super().send, request, *args, **kwargs)
        except requests.exceptions.SSLError as error:
            from urllib3.util import parse_url

            hint = explain_ssl_error(error, parse_url(request.url or "").host)
            if hint is None:
                raise
            raise HintedSSLError(
                *error.args, hint=hint, request=request, response=error.response
            ) from error

    # -- contexts --------------------------------------------------------------------------

    def _owns(self, context: ssl.SSLContext) -> bool:
        with self._contexts_lock:
            return context in self._built

    def _context_for(self, key: _ContextKey) -> ssl.SSLContext:
        # What the files hold now, read before loading them: a file that changes during the
        # load gets a new stamp, so the next request loads it again.
        stamp = _stamp(key)
        with self._contexts_lock:
            cached = self._contexts.get(key)
            if cached is not None and cached[0] == stamp:
                self._contexts.move_to_end(key)
                return cached[1]
            context = _load_context(key)
            self._built.add(context)
            if stamp is not None:
                # Replaces the context for what the files held before, if any.
                self._contexts[key] = (stamp, context)
                self._contexts.move_to_end(key)
                while len(self._contexts) > _MAX_CONTEXTS:
                    self._contexts.popitem(last=False)
            return context


def _load_context(key: _ContextKey) -> ssl.SSLContext:
    # One context per (verify, cert) and per version of their files, never mutated once
    # cached: a shared context would accumulate trust and client certificates across requests.
    trust, client_cert = key
    context = _new_context(verify=trust is not None)
    if trust is not None:
        kind, location = trust
        if kind == "dir":
            context.load_verify_locations(capath=location)
        else:
            context.load_verify_locations(cafile=location)
    if client_cert is not None:
        context.load_cert_chain(client_cert[0], client_cert[1])
    return context


def _stat_stamp(path: str) -> tuple[int, ...]:
    # The inode catches a replacement by rename; ctime catches a rewrite of the same size whose
    # mtime was set back, since only the kernel sets ctime.
    info = os.stat(path)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _stamp(key: _ContextKey) -> _Stamp | None:
    """What the files of *key* hold, as far as their metadata tells; None if unreadable.

    OpenSSL reads a CA directory lazily, only files named ``<subject hash>.<n>`` (``.r<n>`` for
    CRLs), so each of those counts: adding, removing or rewriting any of them gives a new
    stamp. A directory costs a ``stat`` per such file per request (~1 ms for a system store
    of 145 CAs); a file costs one.
    """
    trust, client_cert = key
    paths = [path for path in client_cert or () if path]
    stamp: list[tuple[object, ...]] = []
    try:
        if trust is not None:
            kind, location = trust
            if kind == "dir":
                with os.scandir(location) as entries:
                    for entry in sorted(entries, key=lambda entry: entry.name):
                        if not _HASHED_NAME.match(entry.name):
                            continue
                        with contextlib.suppress(OSError):  # a dangling link is no CA
                            stamp.append((entry.name, *_stat_stamp(entry.path)))
            paths.append(location)
        stamp.extend(_stat_stamp(path) for path in paths)
    except OSError:
        return None
    return tuple(stamp)


def _context_key(verify: _Verify, cert: _Cert) -> _ContextKey | None:
    """The cache key for (verify, cert), or None to leave the request to stock requests.

    None is returned for paths that do not exist, so that requests raises its usual error.
    """
    trust: tuple[str, str] | None
    if not verify:
        trust = None
    else:
        if verify is True:
            from requests import adapters

            # The module global that stock cert_verify() reads, so both always agree.
            location = extract_zipped_paths(vars(adapters)["DEFAULT_CA_BUNDLE_PATH"])
        else:
            location = verify
        if not location or not os.path.exists(location):
            return None
        location = os.path.abspath(location)
        trust = ("dir" if os.path.isdir(location) else "file", location)

    client_cert: tuple[str, str | None] | None = None
    if cert:
        if isinstance(cert, (tuple, list)):
            cert_file, key_file = cert[0], cert[1]
        else:
            cert_file, key_file = cert, None
        paths = [p for p in (cert_file, key_file) if p]
        if not all(os.path.exists(p) for p in paths):
            return None
        client_cert = (
            os.path.abspath(cert_file),
            os.path.abspath(key_file) if key_file else None,
        )
    return trust, client_cert


def pool_maxsize(adapter: BaseAdapter) -> int | None:
    """Connections an adapter keeps per host, or None when it does not say.

    Read from the public ``poolmanager`` of an :class:`~requests.adapters.HTTPAdapter` (the
    keyword arguments urllib3 gives every pool), not from the adapter's private attributes.
    """
    manager = getattr(adapter, "poolmanager", None)
    settings = getattr(manager, "connection_pool_kw", None)
    size = settings.get("maxsize") if isinstance(settings, Mapping) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None
