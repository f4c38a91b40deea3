"""Records as a :class:`pandas.DataFrame`, with typed columns. pandas is imported on first use.

The server sends nearly every neuron field as a string (``"8842.91"``, ``"2006-08-01"``) and
marks missing values in several ways (``null``, ``""``, ``"Not reported"``, ``"Not Reported"``,
``"Not applicable"``). Typed frames turn numeric-string fields into floats, dates into
``datetime64``, those markers into missing values, and strip stray whitespace from strings;
list fields stay lists. A column holding a value that does not read as its type is left as
strings rather than losing that value. ``raw=True`` keeps everything as served.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

__all__ = ["DATE_FIELDS", "LIST_FIELDS", "MISSING", "NUMERIC_FIELDS", "records_frame"]

NUMERIC_FIELDS: frozenset[str] = frozenset(
    {
        "soma_surface",
        "surface",
        "volume",
        "slicing_thickness",
        "magnification",
        "min_age",
        "max_age",
        "min_weight",
        "max_weight",
        "reported_value",
        "reported_xy",
        "reported_z",
        "corrected_value",
        "corrected_xy",
        "corrected_z",
    }
)
"""Neuron fields served as numeric strings, typed as ``float64``."""

DATE_FIELDS: frozenset[str] = frozenset({"upload_date", "deposition_date"})
"""Neuron fields served as ``YYYY-MM-DD``, typed as ``datetime64``."""

LIST_FIELDS: frozenset[str] = frozenset(
    {"brain_region", "cell_type", "experiment_condition", "reference_pmid", "reference_doi"}
)
"""Neuron fields served as lists of strings; typed frames always hold lists there."""

MISSING: frozenset[str] = frozenset({"", "not reported", "not applicable"})
"""Strings (compared without case and surrounding whitespace) that mean "no value"."""


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            'to_dataframe() needs pandas: pip install "neuromorpho-api[pandas]"'
        ) from exc
    return pandas


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().casefold() in MISSING


def _number(value: Any) -> float | None:
    """``value`` as a float; ``None`` if missing; raises ``ValueError`` if not a number."""
    if _is_missing(value):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        number = float(value.strip())
        if math.isfinite(number):
            return number
    raise ValueError(value)


def _typed_column(pd: Any, name: str, values: list[Any]) -> Any:
    """One typed column (a pandas Series or a list) for field ``name``."""
    if name in LIST_FIELDS:
        return pd.Series(
            [list(v) if isinstance(v, list) else ([] if _is_missing(v) else [v]) for v in values],
            dtype=object,
        )
    if name == "neuron_id" and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pd.Series(values, dtype="int64")
    if name in NUMERIC_FIELDS:
        try:
            numbers = [_number(v) for v in values]
        except (TypeError, ValueError):
            return _text_column(pd, values)
        return pd.Series([math.nan if n is None else n for n in numbers], dtype="float64")
    if name in DATE_FIELDS:
        texts = [None if _is_missing(v) else v for v in values]
        if all(t is None or isinstance(t, str) for t in texts):
            try:
                return pd.to_datetime(
                    pd.Series([None if t is None else t.strip() for t in texts], dtype=object),
                    format="%Y-%m-%d",
                    errors="raise",
                )
            except (TypeError, ValueError):
                pass
        return _text_column(pd, values)
    if all(v is None or isinstance(v, str) for v in values):
        return _text_column(pd, values)
    return pd.Series(values, dtype=object)


def _text_column(pd: Any, values: list[Any]) -> Any:
    if all(v is None or isinstance(v, str) for v in values):
        return pd.Series([pd.NA if _is_missing(v) else v.strip() for v in values], dtype="string")
    return pd.Series([None if _is_missing(v) else v for v in values], dtype=object)


def records_frame(records: Iterable[Mapping[str, Any]], *, raw: bool = False) -> pandas.DataFrame:
    """A DataFrame of ``records``, one row each, columns in first-seen key order.

    ``raw=False`` types the columns as the module docstring says; ``raw=True`` keeps the values
    as served. ``_links`` is dropped either way.
    """
    pd = _pandas()
    rows = [{k: v for k, v in r.items() if k != "_links"} for r in records]
    if raw:
        return pd.DataFrame.from_records(rows)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    data = {name: _typed_column(pd, name, [row.get(name) for row in rows]) for name in columns}
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
