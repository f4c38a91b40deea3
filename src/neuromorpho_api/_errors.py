"""Exceptions raised by the NeuroMorpho.Org client and downloader.

TLS and transport failures stay :mod:`requests` exceptions (``requests.exceptions.SSLError``,
``ConnectionError``, ``Timeout``...) so existing ``except`` clauses keep working. Errors about
what the API answered derive from :class:`NeuroMorphoError`::

    NeuroMorphoError
    ├── UnknownFieldError (also ValueError)      a field name the API does not know
    ├── UnknownValueError (also ValueError)      a criterion value no neuron has
    ├── APIError                                 an unexpected status or body from the API
    │   ├── NeuronNotFound (also LookupError)    unknown neuron id or name
    │   ├── ArticleNotFound (also LookupError)   unknown literature article id
    │   └── ServiceUnavailable                   the site reports an outage
    └── DownloadError                            a download could not be completed
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "OUTAGE_MESSAGE",
    "APIError",
    "ArticleNotFound",
    "DownloadError",
    "NeuroMorphoError",
    "NeuronNotFound",
    "ServiceUnavailable",
    "UnknownFieldError",
    "UnknownValueError",
]


class NeuroMorphoError(Exception):
    """Base class of the errors this package raises about NeuroMorpho.Org answers."""


class UnknownFieldError(NeuroMorphoError, ValueError):
    """A field name is not one of the API's searchable fields.

    Args:
        field: The name given.
        suggestions: The closest known field names.

    Attributes:
        field: The name given.
        suggestions: The closest known field names, best first (may be empty).
    """

    def __init__(self, field: str, suggestions: Sequence[str] = ()) -> None:
        self.field = field
        self.suggestions = tuple(suggestions)
        hint = (
            f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?" if suggestions else ""
        )
        super().__init__(f"unknown field {field!r}{hint} (see NeuroMorpho().fields())")


class UnknownValueError(NeuroMorphoError, ValueError):
    """A criterion's value is not among the values the server lists for its field.

    Such a search would match nothing; the error names the closest stored values. The client
    checks only when ``check_values=True`` (its default).

    Args:
        field: The criterion's field.
        value: The value given.
        suggestions: The closest values the server lists.

    Attributes:
        field: The criterion's field.
        value: The value given.
        suggestions: The closest values the server lists, best first (may be empty).
    """

    def __init__(self, field: str, value: str, suggestions: Sequence[str] = ()) -> None:
        self.field = field
        self.value = value
        self.suggestions = tuple(suggestions)
        hint = (
            f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?" if suggestions else ""
        )
        super().__init__(
            f"no neuron has {field}={value!r}{hint} (see NeuroMorpho().values({field!r}); "
            "check_values=False skips this check)"
        )


class APIError(NeuroMorphoError):
    """The API answered with an unexpected status code or body.

    Args:
        message: What went wrong, in words.
        status: The HTTP status, if a response came.
        url: The URL requested.

    Attributes:
        status: The HTTP status, or ``None``.
        url: The URL requested, or ``None``.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        self.status = status
        self.url = url
        super().__init__(message)


class NeuronNotFound(APIError, LookupError):
    """No neuron has the requested id or name.

    Also an :class:`APIError`, like :class:`ArticleNotFound`; ``status`` is 404 when the server
    was asked, ``None`` for an id it cannot hold (no request is made).

    Args:
        key: The neuron id (int) or name (str) asked for.
        message: Replaces the default message.
        url: The URL requested, if any.

    Attributes:
        key: The neuron id or name asked for.
    """

    def __init__(
        self, key: int | str, message: str | None = None, *, url: str | None = None
    ) -> None:
        self.key = key
        super().__init__(
            message or f"no neuron with {'id' if isinstance(key, int) else 'name'} {key!r}",
            status=None if url is None else 404,
            url=url,
        )


class ArticleNotFound(APIError, LookupError):
    """No literature article has the requested id.

    Args:
        article_id: The article id asked for.
        url: The URL requested.

    Attributes:
        article_id: The article id asked for.
    """

    def __init__(self, article_id: str, *, url: str | None = None) -> None:
        self.article_id = article_id
        super().__init__(f"no article with id {article_id!r}", status=404, url=url)


class ServiceUnavailable(APIError):
    """NeuroMorpho.Org reports a service interruption."""


OUTAGE_MESSAGE = "NeuroMorpho.Org shows a Service Interruption Notice; try again later"
"""The message of :class:`ServiceUnavailable` when the site's homepage shows its outage notice."""


class DownloadError(NeuroMorphoError):
    """A file could not be downloaded and verified."""
