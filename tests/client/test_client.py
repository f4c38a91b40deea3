"""The NeuroMorpho client against the emulator, through real TLS, checked against its ground truth."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import neuromorpho_api
from neuromorpho_api import (
    APIError,
    ArticleNotFound,
    NeuroMorphoError,
    NeuroMorphoSession,
    NeuronNotFound,
    ServiceUnavailable,
    UnknownFieldError,
)
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._ratelimit import RateLimiter
from neuromorpho_api._urls import NeuronFiles
from neuromorpho_api.testing import Emulator

# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def emu(neuromorpho_emulator: Emulator) -> Emulator:
    return neuromorpho_emulator


@pytest.fixture
def session(emu: Emulator) -> Iterator[NeuroMorphoSession]:
    with NeuroMorphoSession() as session:
        yield session


@pytest.fixture
def nmo(session: NeuroMorphoSession) -> NeuroMorpho:
    return NeuroMorpho(session=session, rate_limit=None)


@pytest.fixture(scope="module")
def big_server() -> Iterator[Emulator]:
    """20,000 neurons: ``species:rat`` has thousands of hits."""
    emulator = Emulator(20000, seed=1).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def big(big_server: Emulator) -> Iterator[Emulator]:
    big_server.reset()
    with big_server.active():
        yield big_server
    big_server.reset()


def served(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ground-truth record as the client returns it (without ``_links``)."""
    return {k: v for k, v in record.items() if k != "_links"}


def truth_ids(emu: Emulator, q: str | None, fq: tuple[str, ...] = ()) -> list[int]:
    """Ids the server returns for a select, in its ``sort=neuron_id,asc`` order."""
    return [r["neuron_id"] for r in emu.database.search(q, fq, sort="neuron_id,asc")]


def api_requests(emu: Emulator, path: str) -> list[dict[str, list[str]]]:
    """Query parameters of every request made to ``path``."""
    out = []
    for record in emu.requests:
        parts = urlsplit(record.target)
        if parts.path == path:
            out.append(parse_qs(parts.query, keep_blank_values=True))
    return out


# -- construction ------------------------------------------------------------------------------


def test_defaults_use_the_shared_requestor() -> None:
    nmo = NeuroMorpho()
    assert nmo.session is neuromorpho_api.requestor
    assert nmo.base_url == "https://neuromorpho.org"
    assert nmo.page_size == 500
    assert repr(nmo) == "NeuroMorpho('https://neuromorpho.org')"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"page_size": 501}, ValueError),
        ({"page_size": 0}, ValueError),
        ({"page_size": 1.5}, TypeError),
        ({"rate_limit": 0}, ValueError),
        ({"rate_limit": -1.0}, ValueError),
        ({"session": object()}, TypeError),
        ({"base_url": "neuromorpho.org"}, ValueError),
        ({"base_url": "https://neuromorpho.org/api"}, ValueError),
    ],
)
def test_bad_construction(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        NeuroMorpho(**kwargs)


# -- fields, values, partitions ------------------------------------------------------------------


def test_fields_are_listed_and_cached(emu: Emulator, nmo: NeuroMorpho) -> None:
    fields = nmo.fields()
    assert len(fields) == 44
    assert fields[0] == "neuron_id"
    assert fields[-1] == "Physical_Integrity"
    fields.append("mutated")  # a copy: the cache is not affected
    assert nmo.fields()[-1] == "Physical_Integrity"
    assert len(api_requests(emu, "/api/neuron/fields")) == 1


def test_values_of_a_small_field(emu: Emulator, nmo: NeuroMorpho) -> None:
    assert nmo.values("species") == emu.database.field_values("species")
    assert "dragonfly " in nmo.values("species")  # trailing spaces are kept


def test_values_of_a_field_with_several_pages(emu: Emulator, nmo: NeuroMorpho) -> None:
    truth = emu.database.field_values("reference_pmid")
    assert len(truth) > 500
    assert nmo.values("reference_pmid") == truth
    pages = api_requests(emu, "/api/neuron/fields/reference_pmid")
    assert [p["page"] for p in pages] == [["0"], ["1"]]
    assert all(p["size"] == ["500"] for p in pages)


def test_values_when_the_server_pages_by_default(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.options.fields_page_size = 50
    small = NeuroMorpho(session=nmo.session, rate_limit=None, page_size=7)
    assert small.values("species") == emu.database.field_values("species")
    assert small.partition("species") == emu.database.partition("species")


def test_partition(emu: Emulator, nmo: NeuroMorpho) -> None:
    counts = nmo.partition("species")
    assert counts == emu.database.partition("species")
    assert sum(counts.values()) == len(emu.database.neurons)
    many = nmo.partition("reference_pmid")
    assert many == emu.database.partition("reference_pmid")


def test_values_accept_solr_side_and_case_variant_names(emu: Emulator, nmo: NeuroMorpho) -> None:
    assert nmo.values("brain_region_1") == emu.database.field_values("brain_region_1")
    integrity = emu.database.field_values("Physical_Integrity")
    assert nmo.values("physical_Integrity") == integrity
    assert nmo.values("Physical_Integrity") == integrity


def test_values_of_an_unknown_field(emu: Emulator, nmo: NeuroMorpho) -> None:
    with pytest.raises(UnknownFieldError) as info:
        nmo.values("specis")
    assert "species" in info.value.suggestions
    assert not api_requests(emu, "/api/neuron/fields/specis")


# -- single neurons ------------------------------------------------------------------------------


def test_neuron_by_id_and_name(emu: Emulator, nmo: NeuroMorpho) -> None:
    expected = served(emu.database.neuron_by_id(1) or {})
    assert nmo.neuron(1) == expected
    assert nmo.neuron("cnic_001") == expected
    assert list(nmo.neuron(1)) == [k for k in emu.database.neurons[0] if k != "_links"]
    assert nmo.neuron(1)["physical_Integrity"] == "Dendrites Moderate"


def test_neuron_names_with_odd_characters(emu: Emulator, nmo: NeuroMorpho) -> None:
    names = [r["neuron_name"] for r in emu.database.neurons]
    chosen = {c: [n for n in names if c in n][:5] for c in ".+()-_ "}
    assert chosen["."] and chosen["-"]
    for name in (n for group in chosen.values() for n in group):
        assert nmo.neuron(name)["neuron_name"] == name


def test_a_digit_string_is_a_name(emu: Emulator, nmo: NeuroMorpho) -> None:
    with pytest.raises(NeuronNotFound) as info:
        nmo.neuron("1")
    assert info.value.key == "1"
    assert api_requests(emu, "/api/neuron/name/1")


@pytest.mark.parametrize("key", [999_999_999, "no_such_neuron", "a/b", "x y.z", -5])
def test_unknown_neuron(nmo: NeuroMorpho, key: int | str) -> None:
    with pytest.raises(NeuronNotFound) as info:
        nmo.neuron(key)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, NeuroMorphoError)
    assert info.value.key == key


@pytest.mark.parametrize("missing", [999_999_999, "no_such_neuron"])
def test_unknown_neuron_reads_like_an_unknown_article(nmo: NeuroMorpho, missing: int | str) -> None:
    # Neurons and articles: the same hierarchy, the same status and url.
    with pytest.raises(APIError) as neuron:
        nmo.neuron(missing)
    with pytest.raises(APIError) as article:
        nmo.literature("0" * 24)
    for error in (neuron.value, article.value):
        assert isinstance(error, LookupError)
        assert error.status == 404
        assert error.url is not None and error.url.startswith(nmo.base_url + "/api/")
    assert isinstance(neuron.value, NeuronNotFound)
    kind = "id" if isinstance(missing, int) else "name"
    assert neuron.value.url == f"{nmo.base_url}/api/neuron/{kind}/{missing}"


def test_an_id_the_server_cannot_hold_is_not_found_without_a_request(
    emu: Emulator, nmo: NeuroMorpho
) -> None:
    with pytest.raises(NeuronNotFound) as info:
        nmo.neuron(2**31)
    assert isinstance(info.value, APIError)
    assert (info.value.status, info.value.url) == (None, None)
    assert not api_requests(emu, "/api/neuron/id/2147483648")


@pytest.mark.parametrize(("key", "error"), [(True, TypeError), (1.0, TypeError), ("", ValueError)])
def test_bad_neuron_keys(nmo: NeuroMorpho, key: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        nmo.neuron(key)


def test_not_found_checks_the_homepage_once_a_minute(emu: Emulator, nmo: NeuroMorpho) -> None:
    for name in ("nope1", "nope2", "nope3"):
        with pytest.raises(NeuronNotFound):
            nmo.neuron(name)
    assert len(api_requests(emu, "/")) == 1


def test_outage_is_reported_not_mistaken_for_a_missing_neuron(
    emu: Emulator, nmo: NeuroMorpho
) -> None:
    emu.options.down = True
    with pytest.raises(ServiceUnavailable, match="Service Interruption"):
        nmo.neuron(1)
    # the field list is not reachable either, so searches fail the same way
    other = NeuroMorpho(session=nmo.session, rate_limit=None)
    with pytest.raises(ServiceUnavailable):
        other.count(species="rat")
    with pytest.raises(ServiceUnavailable):
        list(other.search(q="species:rat"))


def test_morphometry(emu: Emulator, nmo: NeuroMorpho) -> None:
    truth = emu.database.morphometry(1)
    assert truth is not None
    m = nmo.morphometry(1)
    assert m == served(truth)
    assert nmo.morphometry("cnic_001") == m
    assert m["surface"] == 8842.91
    assert isinstance(m["n_stems"], float)
    assert isinstance(m["neuron_id"], int)


def test_neurons_without_morphometry_or_pvec(emu: Emulator, nmo: NeuroMorpho) -> None:
    nid = sorted(emu.database.no_morphometry_ids)[0]
    nmo.neuron(nid)  # the neuron exists
    with pytest.raises(NeuronNotFound, match="morphometry"):
        nmo.morphometry(nid)
    with pytest.raises(NeuronNotFound, match="persistence"):
        nmo.pvec(nid)


def test_pvec(emu: Emulator, nmo: NeuroMorpho) -> None:
    truth = emu.database.pvec(1)
    assert truth is not None
    vector = nmo.pvec(1)
    assert vector == served(truth)
    assert vector is not None
    assert len(vector["coefficients"]) == 100
    assert nmo.pvec("cnic_001") == vector


def test_pvec_empty_body(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.options.pvec_body = "empty"
    assert nmo.pvec(1) is None
    assert nmo.pvec("cnic_001") is None
    with pytest.raises(NeuronNotFound):
        nmo.pvec(999_999_999)


# -- count and search: pagination -----------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "q", "hits", "pages"),
    [
        ({"species": "axolotl"}, "species:axolotl", 0, 1),
        ({"archive": "Gonzalez-Burgos"}, 'archive:"Gonzalez-Burgos"', 1, 1),
        ({"archive": "Jacobs"}, "archive:Jacobs", 499, 1),
        ({"archive": "Allen Cell Types"}, 'archive:"Allen Cell Types"', 500, 1),
        ({"archive": "Markram"}, "archive:Markram", 501, 2),
        ({"species": "rat"}, "species:rat", 1141, 3),
    ],
)
@pytest.mark.parametrize("zero_hits", ["404", "empty"])
def test_search_pagination(
    emu: Emulator,
    nmo: NeuroMorpho,
    criteria: dict[str, str],
    q: str,
    hits: int,
    pages: int,
    zero_hits: str,
) -> None:
    emu.options.zero_hits = zero_hits  # type: ignore[assignment]
    truth = truth_ids(emu, q)
    assert len(truth) == hits
    # axolotl is no stored species: only unchecked does it reach the server
    assert nmo.count(check_values=False, **criteria) == hits
    before = len(api_requests(emu, "/api/neuron/select"))
    records = list(nmo.search(criteria, check_values=False))
    assert [r["neuron_id"] for r in records] == truth
    assert records == [served(emu.database.neuron_by_id(i) or {}) for i in truth]
    selects = api_requests(emu, "/api/neuron/select")[before:]
    assert len(selects) == pages
    assert selects[0]["page"] == ["0"]  # alone first; the others concurrently, in any order
    selects.sort(key=lambda params: int(params["page"][0]))
    for number, params in enumerate(selects):
        assert params["page"] == [str(number)]
        assert params["size"] == ["500"]
        assert params["sort"] == ["neuron_id,asc"]
        assert params["q"] == [q]
        assert "fq" not in params


def test_many_thousands_of_hits(big: Emulator) -> None:
    with NeuroMorphoSession() as session:
        nmo = NeuroMorpho(session=session, rate_limit=None)
        truth = truth_ids(big, "species:rat")
        assert len(truth) > 5000
        assert nmo.count(species="rat") == len(truth)
        ids = [r["neuron_id"] for r in nmo.search(species="rat")]
        assert ids == truth
        assert len(api_requests(big, "/api/neuron/select")) == 1 + -(-len(truth) // 500)


def test_whole_database_without_criteria(big: Emulator) -> None:
    with NeuroMorphoSession() as session:
        nmo = NeuroMorpho(session=session, rate_limit=None)
        n = len(big.database.neurons)
        assert nmo.count() == n
        ids = [r["neuron_id"] for r in nmo.search()]
        assert len(ids) == n
        assert set(ids) == {r["neuron_id"] for r in big.database.neurons}
        pages = api_requests(big, "/api/neuron")
        assert len(pages) == 1 + n // 500 + (n % 500 > 0)
        assert all(p.get("sort", ["neuron_id,asc"]) == ["neuron_id,asc"] for p in pages[1:])


def test_limit_fetches_no_more_than_needed(emu: Emulator, nmo: NeuroMorpho) -> None:
    truth = truth_ids(emu, "species:rat")

    def run(limit: int) -> tuple[list[int], list[dict[str, list[str]]]]:
        before = len(api_requests(emu, "/api/neuron/select"))
        ids = [r["neuron_id"] for r in nmo.search(species="rat", limit=limit)]
        return ids, api_requests(emu, "/api/neuron/select")[before:]

    ids, calls = run(3)
    assert ids == truth[:3]
    assert [(c["page"], c["size"]) for c in calls] == [(["0"], ["3"])]
    ids, calls = run(500)
    assert ids == truth[:500]
    assert len(calls) == 1
    ids, calls = run(501)
    assert ids == truth[:501]
    assert [(c["page"], c["size"]) for c in calls] == [(["0"], ["500"]), (["1"], ["500"])]
    ids, calls = run(0)
    assert ids == []
    assert calls == []
    ids, calls = run(10**6)
    assert ids == truth
    with pytest.raises(ValueError, match="limit"):
        nmo.search(species="rat", limit=-1)
    with pytest.raises(TypeError, match="limit"):
        nmo.search(species="rat", limit=2.5)  # type: ignore[arg-type]


def test_small_page_size(emu: Emulator, session: NeuroMorphoSession) -> None:
    nmo = NeuroMorpho(session=session, rate_limit=None, page_size=7)
    truth = truth_ids(emu, "archive:Gonzalez-Burgos") + truth_ids(emu, "archive:Jacobs")
    ids = [r["neuron_id"] for r in nmo.search(archive=["Gonzalez-Burgos", "Jacobs"])]
    assert sorted(ids) == sorted(truth)
    assert len(ids) == len(set(ids)) == 500
    assert len(api_requests(emu, "/api/neuron/select")) == -(-500 // 7)


def test_search_is_lazy_and_validates_eagerly(emu: Emulator, nmo: NeuroMorpho) -> None:
    results = nmo.search(species="rat")
    assert not api_requests(emu, "/api/neuron/select")
    next(results)
    assert len(api_requests(emu, "/api/neuron/select")) == 1
    with pytest.raises(UnknownFieldError):
        nmo.search(speceis="rat")  # raised at the call, not at the first next()


@pytest.mark.parametrize("mode", ["clamp", "400"])
def test_oversize_modes_never_matter(emu: Emulator, nmo: NeuroMorpho, mode: str) -> None:
    emu.options.oversize = mode  # type: ignore[assignment]
    assert len(list(nmo.search(archive="Markram"))) == 501
    assert len(nmo.values("reference_pmid")) == len(emu.database.field_values("reference_pmid"))
    for record in emu.requests:
        sizes = parse_qs(urlsplit(record.target).query).get("size", ["0"])
        assert int(sizes[0]) <= 500


# -- query semantics -----------------------------------------------------------------------------


def test_wildcards(emu: Emulator, nmo: NeuroMorpho) -> None:
    records = list(nmo.search(neuron_name="CB_CKp25_2w_F_Animal01_*"))
    assert len(records) == 15
    assert all(r["neuron_name"].startswith("CB_CKp25_2w_F_Animal01_") for r in records)
    assert [r["neuron_id"] for r in records] == truth_ids(
        emu, "neuron_name:CB_CKp25_2w_F_Animal01_*"
    )
    assert nmo.count(neuron_name="CB_CKp25_2w_F_Animal01_1?") == 6  # 10..15


def test_multi_word_values_are_quoted(emu: Emulator, nmo: NeuroMorpho) -> None:
    truth = truth_ids(emu, 'brain_region:"principal cell layer"')
    assert truth
    records = list(nmo.search(brain_region="principal cell layer"))
    assert [r["neuron_id"] for r in records] == truth
    assert all("principal cell layer" in r["brain_region"] for r in records)
    # unquoted, the parser would have kept only "layer": a different, larger answer
    assert len(truth_ids(emu, "brain_region:principal cell layer")) > len(truth)
    (params,) = api_requests(emu, "/api/neuron/select")
    assert params["q"] == ['brain_region:"principal cell layer"']


def test_values_with_commas_and_trailing_spaces(emu: Emulator, nmo: NeuroMorpho) -> None:
    domain = "Dendrites, Soma, No Axon"
    assert nmo.count(domain=domain) == len(truth_ids(emu, f'domain:"{domain}"')) > 0
    assert all(r["domain"] == domain for r in nmo.search(domain=domain, limit=20))
    dragonflies = emu.database.partition("species")["dragonfly "]
    assert nmo.count(species="dragonfly ") == dragonflies
    assert nmo.count(species="dragonfly") == dragonflies  # sent as stored
    assert nmo.count(species="dragonfly", check_values=False) == 0


def test_every_value_of_a_field_finds_its_partition_count(emu: Emulator, nmo: NeuroMorpho) -> None:
    for field in ("species", "archive", "strain", "cell_type", "domain", "Physical_Integrity"):
        counts = emu.database.partition(field)
        for value, count in counts.items():
            assert nmo.count({field: value}) == count, (field, value)


def test_or_within_a_field(emu: Emulator, nmo: NeuroMorpho) -> None:
    rat, mouse = truth_ids(emu, "species:rat"), truth_ids(emu, "species:mouse")
    ids = [r["neuron_id"] for r in nmo.search(species=["rat", "mouse"])]
    assert sorted(ids) == sorted(rat + mouse)
    assert ids == truth_ids(emu, "species:rat,mouse")
    assert nmo.count(neuron_id=[1, 2, 3]) == 3


@pytest.mark.parametrize("join", ["AND", "OR"])
def test_and_across_fields(emu: Emulator, nmo: NeuroMorpho, join: str) -> None:
    emu.options.clause_join = join  # type: ignore[assignment]
    rat = set(truth_ids(emu, "species:rat"))
    hippo = set(truth_ids(emu, "brain_region:hippocampus"))
    assert rat & hippo
    ids = [r["neuron_id"] for r in nmo.search(species="rat", brain_region="hippocampus")]
    assert set(ids) == rat & hippo
    assert len(ids) == len(set(ids))
    (params,) = api_requests(emu, "/api/neuron/select")
    assert params["q"] == ["species:rat"]
    assert params["fq"] == ["brain_region:hippocampus"]


def test_and_of_or(emu: Emulator, nmo: NeuroMorpho) -> None:
    ids = {
        r["neuron_id"]
        for r in nmo.search(
            species=["rat", "mouse"], brain_region=["neocortex", "hippocampus"], archive="Markram"
        )
    }
    assert ids == set(
        truth_ids(
            emu,
            "species:rat,mouse",
            ("brain_region:neocortex,hippocampus", "archive:Markram"),
        )
    )


def test_raw_q_and_fq(emu: Emulator, nmo: NeuroMorpho) -> None:
    truth = truth_ids(emu, "species:rat", ("brain_region:hippocampus",))
    raw = [r["neuron_id"] for r in nmo.search(q="species:rat", fq=["brain_region:hippocampus"])]
    assert raw == truth
    assert nmo.count(q="species:rat", fq="brain_region:hippocampus") == len(truth)
    mixed = [r["neuron_id"] for r in nmo.search(q="species:rat", brain_region="hippocampus")]
    assert mixed == truth
    assert nmo.count(q="neuron_id:[* TO *]") == len(emu.database.neurons)


def test_dict_criteria_and_integrity_casing(emu: Emulator, nmo: NeuroMorpho) -> None:
    value = "Dendrites Moderate"
    truth = truth_ids(emu, f'Physical_Integrity:"{value}"')
    assert truth
    assert nmo.count({"Physical_Integrity": value}) == len(truth)
    assert nmo.count({"physical_Integrity": value}) == len(truth)
    assert nmo.count({"physical_Integrity": value}, species="monkey") == len(
        truth_ids(emu, f'Physical_Integrity:"{value}"', ("species:monkey",))
    )
    with pytest.raises(TypeError, match="twice"):
        nmo.count({"species": "rat"}, species="mouse")


@pytest.mark.parametrize("spelling", ["Physical_Integrity", "physical_Integrity"])
def test_integrity_field_name_option(emu: Emulator, nmo: NeuroMorpho, spelling: str) -> None:
    emu.options.integrity_field_name = spelling
    assert nmo.fields()[-1] == spelling
    for key in ("Physical_Integrity", "physical_Integrity", "physical_integrity"):
        assert nmo.count({key: "Dendrites Moderate"}) == len(
            truth_ids(emu, 'Physical_Integrity:"Dendrites Moderate"')
        )


def test_unknown_field_lists_close_matches(emu: Emulator, nmo: NeuroMorpho) -> None:
    with pytest.raises(UnknownFieldError) as info:
        nmo.count(specis="rat")
    assert info.value.suggestions[0] == "species"
    assert "'species'" in str(info.value)
    with pytest.raises(UnknownFieldError) as info:
        list(nmo.search({"brain region": "neocortex"}))
    assert "brain_region" in info.value.suggestions
    assert not api_requests(emu, "/api/neuron/select")


def test_raw_query_errors_carry_the_server_message(nmo: NeuroMorpho) -> None:
    with pytest.raises(APIError) as info:
        nmo.count(q="no_such_field:1")
    assert info.value.status == 400
    assert "no_such_field" in str(info.value)


# -- robustness ----------------------------------------------------------------------------------


def test_server_error_in_the_middle_of_a_search(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.faults.add(r"/api/neuron/select\?.*page=1&", "status", status=500, times=2)
    ids = [r["neuron_id"] for r in nmo.search(species="rat")]
    assert ids == truth_ids(emu, "species:rat")
    pages = [p["page"][0] for p in api_requests(emu, "/api/neuron/select")]
    assert pages[0] == "0"
    assert sorted(pages) == ["0", "1", "1", "1", "2"]  # page 1 failed twice, then was retried


def test_retry_after_on_a_503(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.faults.add(r"page=1&", "status", status=503, headers={"Retry-After": "1"})
    start = time.monotonic()
    assert len(list(nmo.search(species="rat"))) == 1141
    assert time.monotonic() - start >= 0.9


def test_persistent_server_errors_raise(emu: Emulator) -> None:
    emu.faults.add(r"page=1&", "status", status=500, times=100)
    nmo = NeuroMorpho(session=NeuroMorphoSession(retries=1), rate_limit=None)
    got: list[dict[str, Any]] = []
    with pytest.raises(APIError) as info:
        got.extend(nmo.search(species="rat"))
    assert info.value.status == 500
    assert len(got) == 500  # the first page was delivered, nothing was made up


def test_persistent_503_is_service_unavailable(emu: Emulator) -> None:
    emu.faults.add(r"/api/neuron/id/", "status", status=503, times=100)
    nmo = NeuroMorpho(session=NeuroMorphoSession(retries=0), rate_limit=None)
    with pytest.raises(ServiceUnavailable):
        nmo.neuron(1)


@pytest.mark.parametrize(
    ("kind", "params"),
    [("reset", {"after_bytes": 2000}), ("reset", {"after_bytes": 0}), ("truncate", {"keep": 0.5})],
)
def test_broken_connections_mid_page_are_retried(
    emu: Emulator, nmo: NeuroMorpho, kind: str, params: dict[str, Any]
) -> None:
    emu.faults.add(r"/api/neuron/select\?.*page=1&", kind, **params)  # type: ignore[arg-type]
    ids = [r["neuron_id"] for r in nmo.search(species="rat")]
    assert ids == truth_ids(emu, "species:rat")


def test_a_body_always_cut_short_is_a_transport_error(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.faults.add(r"/api/neuron/id/1$", "truncate", keep=0.5, times=10)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        nmo.neuron(1)
    assert len(api_requests(emu, "/api/neuron/id/1")) == 3


def test_stalled_response_times_out_and_is_retried(
    emu: Emulator, session: NeuroMorphoSession
) -> None:
    nmo = NeuroMorpho(session=session, rate_limit=None, timeout=(5.0, 0.5))
    emu.faults.add(r"/api/neuron/id/1$", "stall", seconds=1.5)
    assert nmo.neuron(1)["neuron_name"] == "cnic_001"
    assert len(api_requests(emu, "/api/neuron/id/1")) == 2


def test_html_instead_of_json(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.faults.add(r"/api/neuron/id/1$", "html")
    with pytest.raises(APIError, match="HTML"):
        nmo.neuron(1)


def test_a_wrong_base_url_is_not_zero_hits(session: NeuroMorphoSession) -> None:
    nmo = NeuroMorpho("https://neuromorpho.org/nowhere", session=session, rate_limit=None)
    with pytest.raises(APIError):
        nmo.fields()


def test_links_in_bodies_are_never_followed(emu: Emulator, nmo: NeuroMorpho) -> None:
    bases: tuple[Literal["http", "request"], ...] = ("http", "request")
    for base in bases:
        emu.options.link_base = base
        assert len(list(nmo.search(archive="Markram"))) == 501
        assert len(list(nmo.literature(limit=600))) == min(600, len(emu.database.literature))
    assert all(
        r.headers.get("Host") == "neuromorpho.org" and not r.target.startswith("http")
        for r in emu.requests
    )


# -- literature ----------------------------------------------------------------------------------


def test_article_by_id(emu: Emulator, nmo: NeuroMorpho) -> None:
    article = emu.database.literature[3]
    assert nmo.literature(article["article_id"]) == served(article)
    with pytest.raises(APIError) as info:
        nmo.literature("0" * 24)
    assert info.value.status == 404
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ArticleNotFound)
    assert info.value.article_id == "0" * 24
    with pytest.raises(TypeError):
        nmo.literature(article["article_id"], limit=3)


def test_literature_search(emu: Emulator, nmo: NeuroMorpho) -> None:
    fields = nmo.literature_fields()
    assert "brainRegion" in fields
    index = emu.database.literature_index
    truth = sorted(index.records[p]["article_id"] for p in index.search("species:rat"))
    got = [a["article_id"] for a in nmo.literature(species="rat")]
    assert got == truth
    assert len(list(nmo.literature())) == len(emu.database.literature)
    assert len(list(nmo.literature(limit=5))) == 5
    with pytest.raises(UnknownFieldError) as info:
        nmo.literature(brain_region="neocortex")
    assert "brainRegion" in info.value.suggestions


@pytest.mark.parametrize("zero_hits", ["404", "empty"])
def test_literature_zero_hits(emu: Emulator, nmo: NeuroMorpho, zero_hits: str) -> None:
    emu.options.zero_hits = zero_hits  # type: ignore[assignment]
    assert list(nmo.literature(species="axolotl")) == []


# -- file URLs -----------------------------------------------------------------------------------


def test_swc_url_matches_the_served_file(emu: Emulator, nmo: NeuroMorpho) -> None:
    db = emu.database
    allen = [r for r in db.neurons if r["archive"] == "Allen Cell Types"]
    picks = [db.neuron_by_id(1), *allen[:3]]
    for record in picks:
        assert record is not None
        url = nmo.swc_url(record)
        assert url == "https://neuromorpho.org" + db.file_path(record)
        if record["neuron_id"] in db.missing_file_ids:
            continue
        body = nmo.session.get(url).content
        assert body == db.swc(record)
    assert "/allen%20cell%20types/CNG%20version/" in nmo.swc_url(picks[-1] or {})
    assert nmo.swc_url(1) == nmo.swc_url("cnic_001") == nmo.swc_url(picks[0] or {})


def test_file_urls_all_resolve(emu: Emulator, nmo: NeuroMorpho) -> None:
    db = emu.database
    formats: dict[str, dict[str, Any]] = {}
    for record in db.neurons:
        formats.setdefault(record["original_format"], record)
    assert "Custom.xml" in formats
    for record in formats.values():
        if record["neuron_id"] in db.missing_file_ids:
            continue
        files = nmo.file_urls(record)
        assert isinstance(files, NeuronFiles)
        assert files.original == "https://neuromorpho.org" + db.source_path(record)
        for url in (files.swc, files.original, files.standardization_log,
                    files.remaining_issues, files.png):  # fmt: skip
            assert url is not None
            response = nmo.session.get(url)
            assert response.status_code == 200, url
    files = nmo.file_urls(formats["Custom.xml"])
    assert files.original is not None and files.original.endswith(".morph.xml")


def test_file_urls_by_id_fetch_the_record(emu: Emulator, nmo: NeuroMorpho) -> None:
    files = nmo.file_urls(1)
    assert files.png == "https://neuromorpho.org/images/imageFiles/Wearne_Hof/cnic_001.png"
    assert len(api_requests(emu, "/api/neuron/id/1")) == 1


# -- pandas ----------------------------------------------------------------------------------


def test_to_dataframe(emu: Emulator, nmo: NeuroMorpho) -> None:
    records = list(nmo.search(archive="Jacobs"))
    frame = NeuroMorpho.to_dataframe(records)
    assert len(frame) == 499
    assert list(frame.columns) == list(records[0])
    assert frame["neuron_id"].tolist() == [r["neuron_id"] for r in records]
    assert frame.iloc[0]["brain_region"] == records[0]["brain_region"]
    assert "_links" not in NeuroMorpho.to_dataframe([emu.database.neurons[0]]).columns


def test_to_dataframe_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"neuromorpho-api\[pandas\]"):
        NeuroMorpho.to_dataframe([])


# -- rate limiting ---------------------------------------------------------------------------


def test_rate_limit_paces_api_calls(emu: Emulator, session: NeuroMorphoSession) -> None:
    nmo = NeuroMorpho(session=session, rate_limit=10.0)
    start = time.monotonic()
    for _ in range(8):
        nmo.neuron(1)
    elapsed = time.monotonic() - start
    assert elapsed >= (8 - 2) / 10.0 - 0.05  # a burst of 2, then 10 per second


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_burst_then_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, burst=2, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.2, 0.2, 0.2, 0.2])
    clock.now += 10  # idle time refills the bucket, but only up to the burst
    assert [limiter.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.2])


def test_token_bucket_is_thread_safe() -> None:
    limiter = RateLimiter(200.0, burst=1)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 40
    assert time.monotonic() - start >= 39 / 200.0 - 0.02


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0)])
def test_token_bucket_rejects_bad_settings(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


# -- behaviour the emulator cannot produce: a scripted session --------------------------------


class ScriptedSession(requests.Session):
    """Answers GETs from a list of (status, body) and records the calls.

    Requests for page ``n`` of a neuron listing get ``pages[n]`` (pages are fetched
    concurrently, in no fixed order); every other request the next reply of ``replies``.
    """

    def __init__(
        self, replies: list[tuple[int, Any]], pages: dict[int, tuple[int, Any]] | None = None
    ) -> None:
        super().__init__()
        self.replies = list(replies)
        self.pages = dict(pages or {})
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.lock:
            self.calls.append((str(url), kwargs))
        body: Any
        number = (kwargs.get("params") or {}).get("page")
        if str(url).endswith("/"):
            status, body = 200, b"<html><body>NeuroMorpho.Org</body></html>"
        elif number is not None and number in self.pages:
            status, body = self.pages[number]
        else:
            with self.lock:
                status, body = self.replies.pop(0)
        response = requests.Response()
        response.status_code = status
        response.url = str(url)
        response._content = json.dumps(body).encode() if isinstance(body, dict) else body
        return response


FIELDS = {"Neuron Fields": ["neuron_id", "neuron_name", "species"]}


def page(ids: list[int], number: int, total: int, size: int = 2) -> dict[str, Any]:
    return {
        "_embedded": {"neuronResources": [{"neuron_id": i, "neuron_name": f"n{i}"} for i in ids]},
        "page": {"size": size, "totalElements": total,
                 "totalPages": -(-total // size), "number": number},
    }  # fmt: skip


def scripted(
    replies: list[tuple[int, Any]], pages: list[tuple[int, Any]] | None = None, **kwargs: Any
) -> tuple[NeuroMorpho, ScriptedSession]:
    session = ScriptedSession(replies, dict(enumerate(pages or [])))
    kwargs.setdefault("check_values", False)
    return NeuroMorpho(session=session, rate_limit=None, page_size=2, **kwargs), session


def test_a_repeated_record_that_hides_another_is_an_error() -> None:
    nmo, _ = scripted([(200, FIELDS)], [(200, page([1, 2], 0, 6)), (200, page([2, 3], 1, 6)),
                                        (200, page([4, 5], 2, 6))])  # fmt: skip
    got: list[dict[str, Any]] = []
    with pytest.raises(APIError, match="changed while paging"):
        got.extend(nmo.search(species="x"))
    assert [r["neuron_id"] for r in got] == [1, 2, 3, 4, 5]


def test_duplicates_are_skipped_when_nothing_is_missing() -> None:
    nmo, _ = scripted([(200, FIELDS)], [(200, page([1, 2], 0, 3)), (200, page([2, 3], 1, 3))])
    assert [r["neuron_id"] for r in nmo.search(species="x")] == [1, 2, 3]


def test_a_limit_short_of_repeats_fetches_one_more_page() -> None:
    pages = [page([1, 2], 0, 8), page([2, 3], 1, 8), page([4, 5], 2, 8), page([6, 7], 3, 8)]
    nmo, session = scripted([(200, FIELDS)], [(200, p) for p in pages], in_flight=4)
    assert [r["neuron_id"] for r in nmo.search(species="x", limit=4)] == [1, 2, 3, 4]
    asked = sorted(c[1]["params"]["page"] for c in session.calls if c[1].get("params"))
    assert asked == [0, 1, 2]  # the limit needs 2 pages; the repeat costs one more, no further


def test_a_page_with_the_wrong_number_is_an_error() -> None:
    nmo, _ = scripted([(200, FIELDS)], [(200, page([1, 2], 0, 4)), (200, page([1, 2], 0, 4))])
    with pytest.raises(APIError, match="got page 0"):
        list(nmo.search(species="x"))


def test_a_shrinking_result_set_is_an_error_not_a_silent_loss() -> None:
    nmo, _ = scripted([(200, FIELDS)], [(200, page([1, 2], 0, 4)), (404, b"")])
    with pytest.raises(APIError, match="2 of 4"):
        list(nmo.search(species="x"))


def test_a_short_last_page_is_not_the_end_unless_the_server_says_so() -> None:
    nmo, _ = scripted([(200, FIELDS)], [(200, page([1], 0, 3)), (200, page([2, 3], 1, 3))])
    assert [r["neuron_id"] for r in nmo.search(species="x")] == [1, 2, 3]


def test_hostile_page_is_an_api_error() -> None:
    nmo, _ = scripted([(200, FIELDS)], [(200, {"_embedded": {"neuronResources": [{"x": 1}]},
                                                "page": page([], 0, 1)["page"]})])  # fmt: skip
    with pytest.raises(APIError, match="neuron_id"):
        list(nmo.search(species="x"))


def test_plain_sessions_get_a_default_timeout() -> None:
    nmo, session = scripted([(200, FIELDS)])
    nmo.fields()
    assert session.calls[0][1]["timeout"] == neuromorpho_api.DEFAULT_TIMEOUT
    nmo, session = scripted([(200, FIELDS)], timeout=3.0)
    nmo.fields()
    assert session.calls[0][1]["timeout"] == 3.0


def test_error_statuses() -> None:
    body = {"status": 400, "error": "Bad Request", "message": "undefined field zz"}
    nmo, _ = scripted([(400, body)])
    with pytest.raises(APIError, match="undefined field zz") as info:
        nmo.fields()
    assert info.value.status == 400
    assert info.value.url == "https://neuromorpho.org/api/neuron/fields"
    nmo, _ = scripted([(503, b"")])
    with pytest.raises(ServiceUnavailable):
        nmo.fields()
    nmo, _ = scripted([(404, b"<html><body>Not Found</body></html>")])
    with pytest.raises(APIError, match="HTML"):
        nmo.neuron(1)


def test_ids_outside_the_servers_range_are_not_found_without_a_request(
    neuromorpho_emulator,
) -> None:
    from neuromorpho_api import NeuroMorpho, NeuroMorphoSession, NeuronNotFound

    client = NeuroMorpho(session=NeuroMorphoSession(), rate_limit=None)
    for neuron_id in (0, -5, 2**31, 10**20):
        with pytest.raises(NeuronNotFound):
            client.neuron(neuron_id)
    assert neuromorpho_emulator.requests == []
