"""Response parsing: every shape the API sends, and hostile bodies (no network)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuromorpho_api import APIError, ServiceUnavailable
from neuromorpho_api._parse import (
    ErrorBody,
    Page,
    check_not_html,
    is_truncated,
    parse_article,
    parse_error,
    parse_fields,
    parse_json,
    parse_measurements,
    parse_page,
    parse_partition,
    parse_pvec,
    parse_record,
    parse_values,
)

RECORD = {
    "neuron_id": 1,
    "neuron_name": "cnic_001",
    "archive": "Wearne_Hof",
    "brain_region": ["neocortex", "prefrontal", "layer 3"],
    "reported_value": None,
    "soma_surface": "834.0",
    "physical_Integrity": "Dendrites Moderate",
    "_links": {"self": {"href": "http://neuromorpho.org/api/neuron/id/1"}},
}
PAGE_BLOCK = {"size": 500, "totalElements": 112244, "totalPages": 225, "number": 5}


def test_page_with_items() -> None:
    doc = {"_embedded": {"neuronResources": [RECORD]}, "_links": {}, "page": PAGE_BLOCK}
    page = parse_page(doc, "neuronResources")
    assert page == Page([RECORD], 500, 112244, 225, 5)


def test_page_without_embedded_is_empty() -> None:
    doc = {
        "_links": {"self": {"href": "http://neuromorpho.org/api/literature/select?sort=title,asc"}},
        "page": {"size": 50, "totalElements": 0, "totalPages": 0, "number": 0},
    }
    page = parse_page(doc, "publicationResources")
    assert page.items == []
    assert page.total_elements == 0


def test_page_embedded_without_the_key_is_empty() -> None:
    assert parse_page({"_embedded": {}, "page": PAGE_BLOCK}, "neuronResources").items == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not an object"),
        ({}, "'page'"),
        ({"page": []}, "'page'"),
        ({"page": {**PAGE_BLOCK, "size": "500"}}, "page.size"),
        ({"page": {**PAGE_BLOCK, "number": True}}, "page.number"),
        ({"page": {**PAGE_BLOCK, "totalElements": -1}}, "page.totalElements"),
        ({"page": {**PAGE_BLOCK, "totalPages": 2.0}}, "page.totalPages"),
        ({"page": PAGE_BLOCK, "_embedded": []}, "'_embedded'"),
        ({"page": PAGE_BLOCK, "_embedded": {"neuronResources": {}}}, "not a list"),
        ({"page": PAGE_BLOCK, "_embedded": {"neuronResources": [1]}}, "item 0"),
    ],
)
def test_page_rejects_wrong_shapes(doc: Any, message: str) -> None:
    with pytest.raises(APIError, match=message):
        parse_page(doc, "neuronResources", url="https://x/api/neuron/select")


def test_record_drops_links_and_keeps_everything_else() -> None:
    record = parse_record(RECORD)
    assert "_links" not in record
    assert record == {k: v for k, v in RECORD.items() if k != "_links"}
    assert list(record) == [k for k in RECORD if k != "_links"]


@pytest.mark.parametrize(
    "doc",
    [None, [], {"neuron_name": "x"}, {"neuron_id": "1", "neuron_name": "x"},
     {"neuron_id": True, "neuron_name": "x"}, {"neuron_id": 1}, {"neuron_id": 1, "neuron_name": 2}],
)  # fmt: skip
def test_record_rejects_wrong_shapes(doc: Any) -> None:
    with pytest.raises(APIError):
        parse_record(doc)


def test_article() -> None:
    doc = {"article_id": "56e9c95de4b0355017b314d2", "title": "T", "_links": {}}
    assert parse_article(doc) == {"article_id": "56e9c95de4b0355017b314d2", "title": "T"}
    with pytest.raises(APIError, match="article_id"):
        parse_article({"article_id": 5})


def test_fields() -> None:
    assert parse_fields({"Neuron Fields": ["neuron_id", "Physical_Integrity"]}) == [
        "neuron_id",
        "Physical_Integrity",
    ]
    assert parse_fields({"Literature Fields": ["article_id"]}) == ["article_id"]
    bad: Any
    for bad in ({}, {"Neuron Fields": "x"}, {"Neuron Fields": [1]}, {"a": [], "b": []}, []):
        with pytest.raises(APIError, match="field"):
            parse_fields(bad)


def test_values() -> None:
    doc = {
        "field_name": "species",
        "fields": ["rat", "mouse", "dragonfly ", 7, None],
        "page": {"size": 94, "totalPages": 1, "totalElements": 94, "number": 0},
    }
    values, page = parse_values(doc, field="species")
    assert values == ["rat", "mouse", "dragonfly ", "7"]
    assert (page.total_pages, page.number) == (1, 0)
    with pytest.raises(APIError, match="asked for field"):
        parse_values(doc, field="strain")
    with pytest.raises(APIError, match="not a string"):
        parse_values({**doc, "fields": [["x"]]})
    with pytest.raises(APIError, match="not a list"):
        parse_values({**doc, "fields": {}})


def test_partition() -> None:
    doc = {
        "field_name": "species",
        "fields": {"Tiger": 105, "monkey": 3209},
        "page": {"size": 94, "totalPages": 1, "totalElements": 94, "number": 0},
    }
    counts, page = parse_partition(doc, field="species")
    assert counts == {"Tiger": 105, "monkey": 3209}
    assert page.total_elements == 94
    for bad in ({"Tiger": "105"}, {"Tiger": 1.5}, {"Tiger": None}, {"Tiger": -1}, ["Tiger"]):
        with pytest.raises(APIError):
            parse_partition({**doc, "fields": bad})


def test_measurements() -> None:
    doc = {
        "neuron_name": "cnic_001",
        "surface": 8842.91,
        "soma_Surface": 834.0,
        "n_stems": 1,
        "fractal_Dim": "1.05",
        "pk_classic": None,
        "neuron_id": 1.0,
        "_links": {},
    }
    out = parse_measurements(doc)
    assert out == {
        "neuron_name": "cnic_001",
        "surface": 8842.91,
        "soma_Surface": 834.0,
        "n_stems": 1.0,
        "fractal_Dim": 1.05,
        "pk_classic": None,
        "neuron_id": 1,
    }
    assert type(out["n_stems"]) is float
    assert type(out["neuron_id"]) is int
    bad: Any
    for bad in ({"surface": "big"}, {"surface": True}, {"surface": []}, {"surface": "nan"},
                {"neuron_id": 1.5}, {"neuron_name": 3}):  # fmt: skip
        with pytest.raises(APIError):
            parse_measurements({**doc, **bad})


def test_pvec() -> None:
    assert parse_pvec(b"") is None
    assert parse_pvec(b"  \n") is None
    doc = {"neuron_id": 1, "scaling_factor": 2.5, "distance": 10.0, "coefficients": [0.1] * 100}
    assert parse_pvec(json.dumps({**doc, "_links": {}}).encode()) == doc
    with pytest.raises(APIError, match="coefficients"):
        parse_pvec(json.dumps({**doc, "coefficients": ["a"]}))
    with pytest.raises(APIError):
        parse_pvec(b"[1, 2]")


def test_error_body() -> None:
    body = (
        b'{"status":404,"error":"Not Found","message":"Requested neuron not found",'
        b'"path":"/api/neuron/name/AA1544"}'
    )
    assert parse_error(body) == ErrorBody(
        404, "Not Found", "Requested neuron not found", "/api/neuron/name/AA1544"
    )
    assert parse_error(b'{"status": "x", "error": 5}') == ErrorBody(None, None, None, None)
    for other in (b"", b"<html>", b"[]", b'{"a": 1}', b"\xff\xfe", b"[" * 100000):
        assert parse_error(other) is None


def test_json_rejects_html_and_garbage() -> None:
    with pytest.raises(APIError, match="HTML"):
        parse_json(b"<!DOCTYPE html><html><body>Not Found</body></html>", url="https://x/")
    with pytest.raises(APIError, match="empty"):
        parse_json(b"")
    with pytest.raises(APIError, match="invalid JSON"):
        parse_json(b'{"a": ')
    with pytest.raises(APIError, match="invalid JSON"):
        parse_json(b"NaN")
    with pytest.raises(APIError, match="invalid JSON"):
        parse_json(b"[" * 100000)
    assert parse_json(b"\xef\xbb\xbf[1]") == [1]  # a BOM is tolerated
    assert parse_json('{"a": "\u00e9"}'.encode()) == {"a": "\u00e9"}


def test_truncation_is_detected_on_unencoded_bodies() -> None:
    assert is_truncated({"Content-Length": "10"}, b"12345")
    assert not is_truncated({"Content-Length": "5"}, b"12345")
    assert not is_truncated({}, b"12345")
    assert not is_truncated({"Content-Length": "junk"}, b"12345")
    assert not is_truncated({"Content-Length": "10", "Content-Encoding": "gzip"}, b"12345")
    assert is_truncated({"Content-Length": "10", "Content-Encoding": "identity"}, b"12345")


def test_outage_notice_is_service_unavailable() -> None:
    page = b"<html><h1>Service Interruption Notice</h1>We are down.</html>"
    with pytest.raises(ServiceUnavailable):
        check_not_html(page)
    with pytest.raises(ServiceUnavailable):
        parse_json(page)
    check_not_html(b'{"a": 1}')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "_embedded",
                    "page",
                    "neuronResources",
                    "fields",
                    "size",
                    "number",
                    "totalElements",
                    "totalPages",
                    "neuron_id",
                    "neuron_name",
                    "field_name",
                    "article_id",
                    "coefficients",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@given(json_values)
def test_hostile_json_only_raises_api_error(doc: Any) -> None:
    for parse in (
        lambda d: parse_page(d, "neuronResources"),
        parse_record,
        parse_article,
        parse_fields,
        parse_values,
        parse_partition,
        parse_measurements,
        lambda d: parse_pvec(json.dumps(d)),
        lambda d: parse_error(json.dumps(d)),
    ):
        with contextlib.suppress(APIError):
            parse(doc)


@given(st.binary())
def test_hostile_bytes_only_raise_api_error(body: bytes) -> None:
    for parse in (parse_json, parse_pvec, parse_error):
        with contextlib.suppress(APIError):
            parse(body)
