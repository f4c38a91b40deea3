"""What search() returns (len, previews, typed DataFrames), the criteria value check, progress."""

from __future__ import annotations

import importlib.metadata
import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from neuromorpho_api import (
    NeuroMorphoError,
    NeuroMorphoSession,
    SearchResult,
    ServiceUnavailable,
    UnknownValueError,
)
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api.testing import Emulator


@pytest.fixture
def emu(neuromorpho_emulator: Emulator) -> Emulator:
    return neuromorpho_emulator


@pytest.fixture
def nmo(emu: Emulator) -> Iterator[NeuroMorpho]:
    with NeuroMorphoSession() as session:
        yield NeuroMorpho(session=session, rate_limit=None)


def sent(emu: Emulator, path: str) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(r.target).query) for r in emu.requests if urlsplit(r.target).path == path
    ]


def truth(emu: Emulator, q: str) -> list[int]:
    return [r["neuron_id"] for r in emu.database.search(q, sort="neuron_id,asc")]


# -- the result object ---------------------------------------------------------------------------


def test_a_search_result_iterates_like_a_generator(emu: Emulator, nmo: NeuroMorpho) -> None:
    result = nmo.search(species="rat")
    assert isinstance(result, SearchResult)
    assert iter(result) is result
    first = next(result)
    rest = list(result)
    assert [r["neuron_id"] for r in [first, *rest]] == truth(emu, "species:rat")
    assert list(result) == []  # one pass, as before


def test_len_is_the_servers_total_from_the_first_page(emu: Emulator, nmo: NeuroMorpho) -> None:
    result = nmo.search(species="rat")
    assert len(result) == len(truth(emu, "species:rat")) == 1141
    assert len(sent(emu, "/api/neuron/select")) == 1
    assert len(list(result)) == 1141
    pages = [p["page"][0] for p in sent(emu, "/api/neuron/select")]
    assert sorted(pages) == ["0", "1", "2"]  # page 0 was not asked for twice
    assert len(nmo.search(species="rat", limit=10)) == 10
    before = len(emu.requests)
    assert len(nmo.search(species="rat", limit=0)) == 0
    assert len(emu.requests) == before
    assert len(nmo.search(species="axolotl", check_values=False)) == 0


def test_the_preview_fetches_one_page_and_consumes_nothing(emu: Emulator, nmo: NeuroMorpho) -> None:
    result = nmo.search(species="rat")
    text = repr(result)
    html = result._repr_html_()
    ids = truth(emu, "species:rat")
    first = emu.database.neuron_by_id(ids[0]) or {}
    assert text.startswith("<SearchResult: 1141 neurons")
    assert first["neuron_name"] in text and first["neuron_name"] in html
    assert len(text.splitlines()) <= 8
    assert "1141 neurons" in html and html.count("<tr>") == 1 + 5
    assert len(sent(emu, "/api/neuron/select")) == 1
    assert [r["neuron_id"] for r in result] == ids
    assert len(sent(emu, "/api/neuron/select")) == 3
    assert "1141 neurons" in repr(result)  # still, after the iteration


def test_the_preview_of_a_failing_search_shows_the_error(emu: Emulator, nmo: NeuroMorpho) -> None:
    result = nmo.search(q="species:rat")
    emu.options.down = True
    assert "ServiceUnavailable" in repr(result)
    assert "ServiceUnavailable" in result._repr_html_()
    with pytest.raises(ServiceUnavailable):
        next(result)


class OneAnswer(requests.Session):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()
        self.body = body

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code = 200
        response.url = str(url)
        fields = {"Neuron Fields": ["neuron_id", "neuron_name"]}
        response._content = json.dumps(
            fields if str(url).endswith("/fields") else self.body
        ).encode()
        return response


def test_the_html_preview_escapes_what_the_server_sent() -> None:
    hostile = "<script>alert(1)</script>"
    body = {
        "_embedded": {"neuronResources": [{"neuron_id": 1, "neuron_name": hostile}]},
        "page": {"size": 500, "totalElements": 1, "totalPages": 1, "number": 0},
    }
    nmo = NeuroMorpho(session=OneAnswer(body), rate_limit=None)
    html = nmo.search()._repr_html_()
    assert hostile not in html and "&lt;script&gt;" in html
    assert repr(nmo.search()).startswith("<SearchResult: 1 neuron:")


def test_literature_searches_return_results_too(nmo: NeuroMorpho) -> None:
    articles = nmo.literature(limit=3)
    assert isinstance(articles, SearchResult)
    assert len(articles) == 3
    assert "3 articles" in repr(articles)
    assert len(list(articles)) == 3


def test_closing_a_result_ends_it(nmo: NeuroMorpho) -> None:
    with nmo.search(species="rat") as result:
        next(result)
    assert list(result) == []
    unstarted = nmo.search(species="rat")
    unstarted.close()
    assert list(unstarted) == []


# -- typed data frames ---------------------------------------------------------------------------


def test_to_dataframe_types_the_columns(emu: Emulator, nmo: NeuroMorpho) -> None:
    pd = pytest.importorskip("pandas")
    records = list(nmo.search(archive="Jacobs", check_values=False))
    frame = nmo.search(archive="Jacobs").to_dataframe()
    assert list(frame.columns) == list(records[0])
    assert len(frame) == len(records) == 499
    assert str(frame["neuron_id"].dtype) == "int64"
    for column in ("surface", "volume", "min_age", "max_weight", "soma_surface", "reported_xy"):
        assert str(frame[column].dtype) == "float64", column
    for column in ("upload_date", "deposition_date"):
        assert str(frame[column].dtype).startswith("datetime64"), column
    assert all(isinstance(v, list) for v in frame["brain_region"])
    assert all(isinstance(v, list) for v in frame["reference_pmid"])
    assert str(frame["species"].dtype) == "string"
    for row, record in zip(frame.itertuples(index=False), records):
        raw_surface = record["surface"]
        if raw_surface is None or raw_surface.strip().casefold() in ("", "not reported"):
            assert math.isnan(row.surface)
        else:
            assert row.surface == float(raw_surface)
        assert row.upload_date == pd.Timestamp(record["upload_date"])
        assert row.brain_region == (record["brain_region"] or [])
        weight = record["min_weight"]
        if weight is None or weight.strip().casefold() in ("not reported", "not applicable", ""):
            assert math.isnan(row.min_weight)
        objective = record["objective_type"]
        if objective == "Not reported":
            assert objective is not None and pd.isna(row.objective_type)
        elif objective is not None:
            assert row.objective_type == objective.strip()


def test_the_missing_markers_seen_in_these_records_are_missing(nmo: NeuroMorpho) -> None:
    pd = pytest.importorskip("pandas")
    records = list(nmo.search(species="rat"))
    frame = NeuroMorpho.to_dataframe(records)
    markers = 0
    for i, record in enumerate(records):
        for key in ("slicing_direction", "shrinkage_corrected", "note", "age_scale"):
            value = record[key]
            if value is None or value.strip().casefold() in ("", "not reported", "not applicable"):
                markers += 1
                assert pd.isna(frame.at[i, key]), (key, value)
    assert markers > 0  # the emulator serves the zoo


def test_raw_keeps_the_served_strings(emu: Emulator, nmo: NeuroMorpho) -> None:
    records = list(nmo.search(archive="Jacobs"))
    frame = nmo.search(archive="Jacobs").to_dataframe(raw=True)
    assert frame.to_dict("records")[0] == records[0]
    assert frame["surface"].tolist() == [r["surface"] for r in records]


def test_a_column_with_an_unreadable_number_stays_text() -> None:
    records = [
        {"neuron_id": 1, "magnification": "40x", "surface": "1.5"},
        {"neuron_id": 2, "magnification": "100", "surface": "Not reported"},
    ]
    frame = NeuroMorpho.to_dataframe(records)
    assert frame["magnification"].tolist() == ["40x", "100"]  # nothing lost
    assert frame["surface"].tolist()[0] == 1.5 and math.isnan(frame["surface"].tolist()[1])


def test_to_dataframe_without_pandas(monkeypatch: pytest.MonkeyPatch, nmo: NeuroMorpho) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"neuromorpho-api\[pandas\]"):
        nmo.search(species="rat", limit=1).to_dataframe()


# -- the value check -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "suggestion"), [("Rat", "rat"), ("rats", "rat")])
def test_a_value_no_neuron_has_is_an_error_with_suggestions(
    emu: Emulator, nmo: NeuroMorpho, value: str, suggestion: str
) -> None:
    with pytest.raises(UnknownValueError) as info:
        nmo.search(species=value)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, NeuroMorphoError)
    assert (error.field, error.value) == ("species", value)
    assert error.suggestions[0] == suggestion
    assert repr(suggestion) in str(error) and "check_values=False" in str(error)
    with pytest.raises(UnknownValueError):
        nmo.count(species=value)
    assert sent(emu, "/api/neuron/select") == []  # nothing was searched
    assert len(sent(emu, "/api/neuron/fields/species")) == 1  # one listing, cached


def test_a_value_far_from_all_gets_no_suggestion(nmo: NeuroMorpho) -> None:
    with pytest.raises(UnknownValueError) as info:
        nmo.count(species="zzzzqqqq")
    assert info.value.suggestions == ()


def test_values_stored_with_stray_whitespace_are_sent_as_stored(
    emu: Emulator, nmo: NeuroMorpho
) -> None:
    stored = emu.database.partition("species")["dragonfly "]
    assert nmo.count(species="dragonfly") == stored
    assert nmo.count(species=" dragonfly") == stored
    assert len(list(nmo.search(species="dragonfly"))) == stored
    assert sent(emu, "/api/neuron/select")[-1]["q"] == ['species:"dragonfly "']
    assert nmo.count(species="dragonfly", check_values=False) == 0


def test_every_value_of_a_list_is_checked(nmo: NeuroMorpho, emu: Emulator) -> None:
    with pytest.raises(UnknownValueError, match="Mouse"):
        nmo.count(species=["rat", "Mouse"])
    region = emu.database.field_values("brain_region")[0]
    assert nmo.count(brain_region=[region]) == len(truth(emu, f'brain_region:"{region}"'))
    with pytest.raises(UnknownValueError) as info:
        nmo.count(brain_region=region.upper() + "x")
    assert info.value.field == "brain_region"


def test_exempt_criteria_are_not_checked(emu: Emulator, nmo: NeuroMorpho) -> None:
    assert nmo.count(species="ra*") == len(truth(emu, "species:ra*"))
    assert nmo.count(q="species:Rat") == len(truth(emu, "species:Rat"))
    both = emu.database.search("species:rat", ("species:Rat",))
    assert nmo.count(species="rat", fq="species:Rat") == len(both)
    assert nmo.count(neuron_name="no_such_name") == 0
    assert nmo.count(min_age="1234.5") == 0
    assert nmo.count(neuron_id=[1, 2]) == 2
    asked = {urlsplit(r.target).path for r in emu.requests}
    for field in ("neuron_name", "min_age", "neuron_id"):
        assert f"/api/neuron/fields/{field}" not in asked
    off = NeuroMorpho(session=nmo.session, rate_limit=None, check_values=False)
    assert off.count(species="Rat") == len(truth(emu, "species:Rat"))
    with pytest.raises(UnknownValueError):
        off.count(species="Rats", check_values=True)


def test_a_long_value_list_is_fetched_once_for_many_threads(emu: Emulator) -> None:
    with NeuroMorphoSession() as session:
        nmo = NeuroMorpho(session=session, rate_limit=None, page_size=5)
        strains = emu.database.field_values("strain")
        assert len(strains) > 3 * 5  # several pages, fetched concurrently
        errors: list[BaseException] = []

        def count() -> None:
            try:
                nmo.count(strain=strains[-1])
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=count) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        pages = [p["page"][0] for p in sent(emu, "/api/neuron/fields/strain")]
        assert sorted(pages, key=int) == [str(n) for n in range(-(-len(strains) // 5))]


# -- the progress extra --------------------------------------------------------------------------


def test_the_progress_extra_brings_the_notebook_widget() -> None:
    requires = importlib.metadata.requires("neuromorpho-api") or []
    extra = [r.split(";")[0].strip() for r in requires if 'extra == "progress"' in r]
    assert any(r.startswith("tqdm") for r in extra)
    assert any(r.startswith("ipywidgets") for r in extra)
    # With the extra installed, tqdm's notebook bar is a widget, made without a warning.
    code = (
        "from tqdm.notebook import tqdm\n"
        "bar = tqdm(total=2, disable=False)\n"
        "bar.update(2); bar.close()\n"
        "print(type(bar.container).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "HBox" in result.stdout


def test_a_result_already_read_refuses_a_second_dataframe(nmo: NeuroMorpho) -> None:
    result = nmo.search(archive="Jacobs")
    first = result.to_dataframe()
    assert len(first) == len(result) > 0
    with pytest.raises(RuntimeError, match="already read"):
        result.to_dataframe()
    with pytest.raises(RuntimeError, match="already read"):
        NeuroMorpho.to_dataframe(result)
    assert "already read" in repr(result) and "already read" in result._repr_html_()
    fresh = nmo.search(archive="Jacobs")
    assert "already read" not in repr(fresh)
    assert len(fresh.to_dataframe()) == len(first)
