"""URL building (no network)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuromorpho_api._urls import (
    DEFAULT_BASE_URL,
    NeuronFiles,
    api_url,
    neuron_files,
    normalize_base_url,
    original_extension,
    original_url,
    png_url,
    remaining_issues_url,
    standardization_log_url,
    swc_url,
)

B = DEFAULT_BASE_URL


def test_swc_url_worked_example() -> None:
    assert swc_url(B, "Allen Cell Types", "H16-03-001-01-09-01_559391771_m") == (
        "https://neuromorpho.org/dableFiles/allen%20cell%20types/CNG%20version/"
        "H16-03-001-01-09-01_559391771_m.CNG.swc"
    )


def test_swc_url_lower_cases_the_whole_archive() -> None:
    # neuromorphr kept the capital after the first letter (wearne_Hof)
    assert swc_url(B, "Wearne_Hof", "cnic_001") == (
        "https://neuromorpho.org/dableFiles/wearne_hof/CNG%20version/cnic_001.CNG.swc"
    )


def test_names_are_percent_encoded() -> None:
    url = swc_url(B, "Jacobs", "a b#c?d%e/f")
    assert url.endswith("/jacobs/CNG%20version/a%20b%23c%3Fd%25e%2Ff.CNG.swc")
    assert " " not in url


def test_names_with_dots_keep_them() -> None:
    assert swc_url(B, "Smith", "0-2.v1").endswith("/smith/CNG%20version/0-2.v1.CNG.swc")


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [
        ("Neurolucida.dat", "dat"),
        ("Neurozoom.swc", "swc"),
        ("Neurolucida.asc", "asc"),
        ("Custom.xml", "morph.xml"),
        ("Amira.am", "am"),
        ("Not reported", None),
        ("", None),
        (None, None),
    ],
)
def test_original_extension(fmt: str | None, ext: str | None) -> None:
    assert original_extension(fmt) == ext


def test_original_url_uses_source_version_with_a_hyphen() -> None:
    assert original_url(B, "Wearne_Hof", "cnic_001", "Neurozoom.swc") == (
        "https://neuromorpho.org/dableFiles/wearne_hof/Source-Version/cnic_001.swc"
    )
    assert original_url(B, "Allen Cell Types", "x", "Custom.xml") == (
        "https://neuromorpho.org/dableFiles/allen%20cell%20types/Source-Version/x.morph.xml"
    )
    assert original_url(B, "A", "x", "Not reported") is None


def test_logs() -> None:
    assert standardization_log_url(B, "Allen Cell Types", "n") == (
        "https://neuromorpho.org/dableFiles/allen%20cell%20types/Standardization%20log/n.std"
    )
    assert remaining_issues_url(B, "Allen Cell Types", "n") == (
        "https://neuromorpho.org/dableFiles/allen%20cell%20types/Remaining%20issues/n.CNG.swc.std"
    )


def test_png_keeps_the_archive_case() -> None:
    assert png_url(B, "Wearne_Hof", "cnic_001") == (
        "https://neuromorpho.org/images/imageFiles/Wearne_Hof/cnic_001.png"
    )
    assert png_url(B, "Allen Cell Types", "n") == (
        "https://neuromorpho.org/images/imageFiles/Allen%20Cell%20Types/n.png"
    )


def test_neuron_files_from_a_record() -> None:
    record = {
        "neuron_id": 1,
        "neuron_name": "cnic_001",
        "archive": "Wearne_Hof",
        "original_format": "Neurozoom.swc",
        "png_url": "http://neuromorpho.org/images/imageFiles/Wearne_Hof/cnic_001.png",
    }
    files = neuron_files(B, record)
    assert isinstance(files, NeuronFiles)
    assert files.swc == swc_url(B, "Wearne_Hof", "cnic_001")
    assert files.original == original_url(B, "Wearne_Hof", "cnic_001", "Neurozoom.swc")
    assert files.standardization_log.endswith("/wearne_hof/Standardization%20log/cnic_001.std")
    assert files.remaining_issues.endswith("/wearne_hof/Remaining%20issues/cnic_001.CNG.swc.std")
    assert files.png.startswith("https://")  # never the server's http:// link


@pytest.mark.parametrize(
    "record",
    [{}, {"archive": "A"}, {"neuron_name": "n"}, {"archive": 5, "neuron_name": "n"},
     {"archive": "A", "neuron_name": ""}],
)  # fmt: skip
def test_neuron_files_needs_archive_and_name(record: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="usable"):
        neuron_files(B, record)


def test_neuron_files_tolerates_a_missing_format() -> None:
    assert neuron_files(B, {"archive": "A", "neuron_name": "n"}).original is None


def test_other_base_urls() -> None:
    mirror = normalize_base_url("http://cng.gmu.edu:8080/neuroMorpho/")
    assert mirror == "http://cng.gmu.edu:8080/neuroMorpho"
    assert swc_url(mirror, "A", "n") == (
        "http://cng.gmu.edu:8080/neuroMorpho/dableFiles/a/CNG%20version/n.CNG.swc"
    )
    assert api_url(mirror, "neuron", "select") == (
        "http://cng.gmu.edu:8080/neuroMorpho/api/neuron/select"
    )


@pytest.mark.parametrize(
    "bad",
    ["neuromorpho.org", "ftp://neuromorpho.org", "https://", "https://neuromorpho.org/?x=1",
     "https://neuromorpho.org/#f", "https://neuromorpho.org/api", "https://neuromorpho.org/api/"],
)  # fmt: skip
def test_bad_base_urls(bad: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        normalize_base_url(bad)


def test_api_url_encodes_each_segment() -> None:
    assert api_url(B, "neuron", "name", "a b/c.d") == (
        "https://neuromorpho.org/api/neuron/name/a%20b%2Fc.d"
    )
    assert api_url(B, "neuron", "id", 42) == "https://neuromorpho.org/api/neuron/id/42"
    with pytest.raises(ValueError, match="segment"):
        api_url(B, "neuron", "name", "..")
    with pytest.raises(TypeError):
        api_url(B, "neuron", "id", True)


names = st.text(min_size=1).filter(lambda s: s not in (".", ".."))


@given(archive=st.text(min_size=1).filter(lambda s: s.strip("/") not in ("", ".", "..") and
                                          all(p not in ("", ".", "..") for p in s.strip("/").split("/"))),
       name=names)  # fmt: skip
def test_any_name_round_trips_through_the_path(archive: str, name: str) -> None:
    url = swc_url(B, archive, name)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.query, parts.fragment) == (
        "https", "neuromorpho.org", "", "",
    )  # fmt: skip
    segments = parts.path.split("/")
    assert segments[:2] == ["", "dableFiles"]
    assert segments[-2:] == ["CNG%20version", segments[-1]]
    assert unquote(segments[-1]) == name + ".CNG.swc"
    assert "/".join(unquote(s) for s in segments[2:-2]) == archive.strip("/").lower()
    assert not any(c.isspace() for c in url)
