"""The synthetic database: record shapes, known counts, determinism, files."""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections import Counter
from typing import Any

import pytest

from neuromorpho_api.testing._database import (
    LITERATURE_KEYS,
    MORPHOMETRY_KEYS,
    NEURON_FIELDS,
    NEURON_KEYS,
    SyntheticDatabase,
)

# Reference §4.2, typed out independently of the implementation.
CNIC_001 = json.loads(r"""{
  "neuron_id": 1, "neuron_name": "cnic_001", "archive": "Wearne_Hof",
  "note": "When originally released, this reconstruction had been incompletely processed, and this issue was fixed in release 6.1 (May 2015). The pre-6.1 version of the processed file is available for download <a href=\" dableFiles/previous/v6.1/wearne_hof/cnic_001.CNG.swc \">here</a>.",
  "age_scale": "Year", "gender": "Male/Female", "age_classification": "old",
  "brain_region": ["neocortex", "prefrontal", "layer 3"],
  "cell_type": ["Local projecting", "pyramidal", "principal cell"],
  "species": "monkey", "strain": "Rhesus", "scientific_name": "Macaca mulatta",
  "stain": "lucifer yellow", "experiment_condition": ["Control"], "protocol": "in vivo",
  "slicing_direction": "custom", "reconstruction_software": "Neurozoom",
  "objective_type": "Not reported", "original_format": "Neurozoom.swc",
  "domain": "Dendrites, Soma, No Axon", "attributes": "Diameter, 3D, Angles",
  "magnification": "100", "upload_date": "2006-08-01", "deposition_date": "2005-12-31",
  "shrinkage_reported": "Reported", "shrinkage_corrected": "Not Corrected",
  "reported_value": null, "reported_xy": null, "reported_z": null,
  "corrected_value": null, "corrected_xy": null, "corrected_z": null,
  "soma_surface": "834.0", "surface": "8842.91", "volume": "4725.89",
  "slicing_thickness": "400", "min_age": "24.0", "max_age": "25.0",
  "min_weight": "4500.0", "max_weight": "10000.0",
  "png_url": "http://neuromorpho.org/images/imageFiles/Wearne_Hof/cnic_001.png",
  "reference_pmid": ["12204204", "12902394"],
  "reference_doi": ["10.1016/S0306-4522(02)00305-6", "10.1093/cercor/13.9.950"],
  "physical_Integrity": "Dendrites Moderate",
  "_links": {"self": {"href": "http://neuromorpho.org/api/neuron/id/1"},
             "measurements": {"href": "http://neuromorpho.org/api/morphometry/id/1"},
             "persistence_vector": {"href": "http://neuromorpho.org/api/pvec/id/1"}}
}""")

LIST_FIELDS = {"brain_region", "cell_type", "experiment_condition", "reference_pmid",
               "reference_doi"}  # fmt: skip
NULLABLE_NUMBERS = {"reported_value", "reported_xy", "reported_z", "corrected_value",
                    "corrected_xy", "corrected_z"}  # fmt: skip
NULLABLE_TEXT = {"note", "scientific_name", "soma_surface"}

# sha256 over a fixed selection of the default database (see _digest); the same on every
# supported Python version, which is what the pin protects.
DIGEST = "ddc01dcab657e5aba968270ae4f2ed965387fa9c5da716524226a8c02a851feb"


@pytest.fixture(scope="module")
def db() -> SyntheticDatabase:
    return SyntheticDatabase()


def _digest(db: SyntheticDatabase) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(db.neurons).encode())
    h.update(json.dumps(db.literature).encode())
    h.update(json.dumps([db.morphometry(i) for i in (1, 2, 3)]).encode())
    h.update(json.dumps(db.pvec(1)).encode())
    special = (*sorted(db.broken_file_ids), *sorted(db.encoding_quirks))
    for nid in (1, 2, 3, db.large_file_id, *special):
        record = db.neuron_by_id(nid)
        assert record is not None
        h.update(db.swc(record) or b"")
    h.update(repr(sorted(db.missing_file_ids)).encode())
    return h.hexdigest()


def test_neuron_1_is_the_reference_record_verbatim(db: SyntheticDatabase) -> None:
    record = db.neuron_by_id(1)
    assert record == CNIC_001
    assert record is not None
    assert list(record) == list(CNIC_001)
    assert db.neuron_by_name("cnic_001") is record
    assert db.neurons[0] is record


def test_schema_constants() -> None:
    assert len(NEURON_KEYS) == 44 == len(set(NEURON_KEYS))
    assert list(NEURON_KEYS) == [k for k in CNIC_001 if k != "_links"]
    assert len(NEURON_FIELDS) == 44
    assert set(NEURON_FIELDS) - set(NEURON_KEYS) == {"Physical_Integrity"}
    assert NEURON_FIELDS[-1] == "Physical_Integrity"
    assert MORPHOMETRY_KEYS[:4] == ("neuron_name", "surface", "volume", "soma_Surface")
    assert len(LITERATURE_KEYS) == 18


def test_every_record_has_the_served_shape(db: SyntheticDatabase) -> None:
    numeric = re.compile(r"-?\d+(\.\d+)?")
    for rec in db.neurons:
        assert list(rec) == [*NEURON_KEYS, "_links"]
        nid = rec["neuron_id"]
        assert type(nid) is int
        for key in NEURON_KEYS[1:]:
            value = rec[key]
            if key in LIST_FIELDS:
                assert isinstance(value, list)
                assert all(isinstance(v, str) for v in value)
            elif key in NULLABLE_NUMBERS:
                assert value is None or numeric.fullmatch(value), (key, value)
            elif key in NULLABLE_TEXT:
                assert value is None or isinstance(value, str)
            else:
                assert isinstance(value, str), (nid, key, value)
        for key in ("surface", "volume"):
            assert numeric.fullmatch(rec[key])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rec["upload_date"])
        assert rec["deposition_date"] <= rec["upload_date"]
        assert rec["_links"] == {
            "self": {"href": f"http://neuromorpho.org/api/neuron/id/{nid}"},
            "measurements": {"href": f"http://neuromorpho.org/api/morphometry/id/{nid}"},
            "persistence_vector": {"href": f"http://neuromorpho.org/api/pvec/id/{nid}"},
        }
        assert rec["png_url"].startswith("http://neuromorpho.org/images/imageFiles/")
        assert ("No Soma" in rec["domain"]) == (rec["soma_surface"] is None)


def test_empty_value_zoo_is_complete(db: SyntheticDatabase) -> None:
    values: dict[str, set[Any]] = {k: set() for k in NEURON_KEYS}
    for rec in db.neurons:
        for key in NEURON_KEYS:
            v = rec[key]
            values[key].add(tuple(v) if isinstance(v, list) else v)
    assert {"", None} <= values["note"]
    assert {"", None} <= values["scientific_name"]
    assert None in values["soma_surface"]
    assert "" in values["shrinkage_corrected"]
    for key in ("slicing_direction", "slicing_thickness", "objective_type"):
        assert "Not reported" in values[key], key
    for key in ("min_weight", "max_weight", "shrinkage_reported", "age_scale"):
        assert "Not Reported" in values[key], key
    assert any("Not applicable" in values[k] for k in NEURON_KEYS)
    assert "dragonfly " in values["species"]
    assert "Western " in values["strain"]
    assert {"Dendrites Moderate", "Dendrites Complete"} <= values["physical_Integrity"]


def test_ids_names_and_spread(db: SyntheticDatabase) -> None:
    ids = [r["neuron_id"] for r in db.neurons]
    assert len(ids) == 3000
    assert ids == sorted(set(ids))
    assert ids[0] == 1
    assert ids[-1] > 3000  # a few gaps, like the real database
    names = [r["neuron_name"] for r in db.neurons]
    assert len(set(names)) == len(names)
    assert not any(" " in n for n in names)
    assert any("." in n for n in names)
    assert any("-" in n for n in names)
    assert any("+" in n for n in names)
    assert any("(" in n for n in names)
    species = Counter(r["species"] for r in db.neurons)
    assert {"rat", "mouse", "human", "monkey", "drosophila melanogaster", "zebrafish", "cat",
            "dragonfly "} <= set(species)  # fmt: skip
    archives = {r["archive"] for r in db.neurons}
    assert any("." in a or "-" in a for a in archives)
    assert {"Wearne_Hof", "Allen Cell Types", "Jacobs", "Smith", "Markram", "Chklovskii",
            "MouseLight"} <= archives  # fmt: skip
    assert any(len(r["brain_region"]) == 3 for r in db.neurons)
    assert any(" " in v for r in db.neurons for v in r["brain_region"])
    allen = [r for r in db.neurons if r["archive"] == "Allen Cell Types"]
    assert any(
        re.fullmatch(r"H\d\d-\d\d-\d{3}-01-\d\d-\d\d_\d+_m", r["neuron_name"]) for r in allen
    )


def test_documented_counts_at_the_default_size(db: SyntheticDatabase) -> None:
    by_archive = Counter(r["archive"] for r in db.neurons)
    assert by_archive["Gonzalez-Burgos"] == 1
    assert by_archive["Jacobs"] == 499
    assert by_archive["Allen Cell Types"] == 500
    assert by_archive["Markram"] == 501
    assert Counter(r["species"] for r in db.neurons)["rat"] == 1141
    family = [r for r in db.neurons if r["neuron_name"].startswith("CB_CKp25_2w_F_Animal01_")]
    assert len(family) == 15
    # the engine agrees with the independent counts
    assert len(db.search("species:axolotl")) == 0
    assert len(db.search("archive:Gonzalez-Burgos")) == 1
    assert len(db.search("neuron_name:CB_CKp25_2w_F_Animal01_*")) == 15
    assert len(db.search("archive:Jacobs")) == 499
    assert len(db.search('archive:"Allen Cell Types"')) == 500
    assert len(db.search("archive:Markram")) == 501
    assert len(db.search("species:rat")) == 1141
    assert len(db.search("neuron_id:[* TO *]")) == 3000


@pytest.mark.parametrize("seed", [1, 7])
def test_counts_do_not_depend_on_the_seed(seed: int) -> None:
    other = SyntheticDatabase(seed=seed)
    by_archive = Counter(r["archive"] for r in other.neurons)
    assert [
        by_archive[a] for a in ("Gonzalez-Burgos", "Jacobs", "Allen Cell Types", "Markram")
    ] == [
        1,
        499,
        500,
        501,
    ]
    assert len(other.search("species:rat")) == 1141
    assert len(other.search("neuron_name:CB_CKp25_2w_F_Animal01_*")) == 15


@pytest.mark.parametrize("n", [1, 2, 10, 50, 299, 300, 1234])
def test_other_sizes(n: int) -> None:
    other = SyntheticDatabase(n)
    assert len(other.neurons) == n
    assert other.neurons[0]["neuron_name"] == "cnic_001"
    assert len({r["neuron_name"] for r in other.neurons}) == n
    if n >= 300:
        assert len(other.search("neuron_name:CB_CKp25_2w_F_Animal01_*")) == 15


def test_large_database_scales() -> None:
    # Build times are measured by benchmarks/run.py, not asserted here.
    big = SyntheticDatabase(20000)
    assert len(big.neurons) == 20000
    rat = len(big.search("species:rat"))
    assert 5000 < rat < 10000
    assert len(big.search("neuron_name:CB_CKp25_2w_F_Animal01_*")) == 15


def test_determinism(db: SyntheticDatabase) -> None:
    again = SyntheticDatabase()
    assert again.neurons == db.neurons
    assert again.literature == db.literature
    assert again.missing_file_ids == db.missing_file_ids
    assert again.broken_file_ids == db.broken_file_ids
    assert again.swc(db.neurons[5]) == db.swc(db.neurons[5])
    other = SyntheticDatabase(seed=1)
    assert other.neurons[0] == db.neurons[0]  # neuron 1 is fixed
    assert other.neurons[1:] != db.neurons[1:]


def test_digest_is_pinned(db: SyntheticDatabase) -> None:
    # Fails if the data changes, or if a Python version draws different random numbers.
    assert _digest(db) == DIGEST


def test_field_values_and_partitions(db: SyntheticDatabase) -> None:
    pmids = db.field_values("reference_pmid")
    assert len(pmids) > 500
    assert len(pmids) == len(set(pmids))
    independent = {p for r in db.neurons for p in r["reference_pmid"]}
    assert set(pmids) == independent
    species = db.field_values("species")
    counts = Counter(r["species"] for r in db.neurons)
    assert species[0] == "rat"
    assert [counts[s] for s in species] == sorted(counts.values(), reverse=True)
    assert db.partition("species") == dict(sorted(counts.items()))
    assert sum(db.partition("archive").values()) == 3000
    assert len(db.field_values("neuron_name")) == 3000
    # Solr-side names
    assert db.partition("brain_region_1") == dict(
        sorted(Counter(r["brain_region"][0] for r in db.neurons).items())
    )
    assert db.field_values("Physical_Integrity") == db.field_values("physical_Integrity")
    assert "" not in db.field_values("brain_region_3")


def test_select_post_matches_an_independent_filter(db: SyntheticDatabase) -> None:
    body = {"species": ["mouse"], "brain_region": ["neocortex", "hippocampus"]}
    got = db.select_post(body)
    expected = [
        r
        for r in db.neurons
        if r["species"] == "mouse" and {"neocortex", "hippocampus"} & set(r["brain_region"])
    ]
    assert sorted(r["neuron_id"] for r in got) == [r["neuron_id"] for r in expected]
    assert [r["neuron_id"] for r in got] == sorted((r["neuron_id"] for r in got), key=str)


def test_search_orders(db: SyntheticDatabase) -> None:
    got = [r["neuron_id"] for r in db.search("archive:Markram")]
    assert got == sorted(got, key=str)
    desc = [r["neuron_id"] for r in db.search("archive:Markram", sort="neuron_id,desc")]
    assert desc == got[::-1]
    names = [r["neuron_name"] for r in db.search("archive:Smith", sort="neuron_name")]
    assert names == sorted(names)
    both = db.search("species:mouse brain_region:neocortex", clause_join="OR")
    assert len(both) == len(
        [r for r in db.neurons if r["species"] == "mouse" or "neocortex" in r["brain_region"]]
    )


def test_morphometry(db: SyntheticDatabase) -> None:
    m = db.morphometry(1)
    assert m is not None
    assert list(m) == list(MORPHOMETRY_KEYS)
    assert (m["surface"], m["volume"], m["soma_Surface"]) == (8842.91, 4725.89, 834.0)
    assert m["neuron_id"] == 1
    assert m["neuron_name"] == "cnic_001"
    assert all(
        isinstance(m[k], float) for k in MORPHOMETRY_KEYS if k not in ("neuron_name", "neuron_id")
    )
    assert db.morphometry_by_name("cnic_001") is m
    assert db.no_morphometry_ids
    assert 1 not in db.no_morphometry_ids
    for nid in db.no_morphometry_ids:
        assert db.morphometry(nid) is None
        assert db.pvec(nid) is None
    assert db.morphometry(10**9) is None
    with_morph = [r for r in db.neurons if r["neuron_id"] not in db.no_morphometry_ids]
    assert len(db.morphometry_index.records) == len(with_morph)


def test_pvec(db: SyntheticDatabase) -> None:
    p = db.pvec(1)
    assert p is not None
    assert list(p) == ["neuron_id", "scaling_factor", "distance", "coefficients"]
    assert p["neuron_id"] == 1
    assert len(p["coefficients"]) == 100
    assert all(isinstance(c, float) for c in p["coefficients"])


def test_literature(db: SyntheticDatabase) -> None:
    arts = db.literature
    assert 100 <= len(arts) <= 1000
    ids = [a["article_id"] for a in arts]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for a in arts:
        assert list(a) == [*LITERATURE_KEYS, "_links"]
        assert re.fullmatch(r"[0-9a-f]{24}", a["article_id"])
        assert isinstance(a["authors"], list)
        assert db.article(a["article_id"]) is a
    pmids = {p for r in db.neurons for p in r["reference_pmid"]}
    assert any(a["pmid"] in pmids for a in arts)


# ------------------------------------------------------------------------------ files


def _parse_swc(body: bytes) -> list[tuple[int, int, float, float, float, float, int]]:
    """A strict parser: UTF-8/latin-1 text, 7 columns, parents defined before children."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    nodes = []
    seen: set[int] = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cols = line.split()
        if len(cols) != 7:
            raise ValueError(f"bad line {line!r}")
        nid, kind, parent = int(cols[0]), int(cols[1]), int(cols[6])
        x, y, z, r = (float(c) for c in cols[2:6])
        if parent != -1 and parent not in seen:
            raise ValueError("parent after child")
        seen.add(nid)
        nodes.append((nid, kind, x, y, z, r, parent))
    if not nodes:
        raise ValueError("no nodes")
    return nodes


def test_cnic_001_file(db: SyntheticDatabase) -> None:
    rec = db.neuron_by_id(1)
    assert rec is not None
    body = db.swc(rec)
    assert body is not None
    assert len([ln for ln in body.splitlines() if ln.strip()]) == 1281
    nodes = _parse_swc(body)
    assert [n[6] for n in nodes].count(-1) == 1
    assert [n[1] for n in nodes[:3]] == [1, 1, 1]  # three-point soma
    assert {n[1] for n in nodes} <= {1, 3, 4}  # "No Axon"
    assert db.file_path(rec) == "/dableFiles/wearne_hof/CNG%20version/cnic_001.CNG.swc"
    assert db.swc(rec) is body  # LRU cache


def test_file_path_encoding(db: SyntheticDatabase) -> None:
    rec = next(r for r in db.neurons if r["archive"] == "Allen Cell Types")
    path = db.file_path(rec)
    assert path.startswith("/dableFiles/allen%20cell%20types/CNG%20version/")
    odd = next(r for r in db.neurons if "(" in r["neuron_name"])
    assert "%28" in db.file_path(odd)
    assert db.source_extension({"original_format": "Neurolucida.dat"}) == "dat"
    assert db.source_extension({"original_format": "Neurozoom.swc"}) == "swc"
    assert db.source_extension({"original_format": "Custom.xml"}) == "morph.xml"


def test_sample_of_files_parses(db: SyntheticDatabase) -> None:
    bad = db.missing_file_ids | db.broken_file_ids
    sample = [r for r in db.neurons[::97] if r["neuron_id"] not in bad]
    styles: set[str] = set()
    for rec in sample:
        body = db.swc(rec)
        assert body is not None
        nodes = _parse_swc(body)
        roots = [n for n in nodes if n[6] == -1]
        assert len(roots) == 1
        assert [n[0] for n in nodes] == list(range(1, len(nodes) + 1))
        has_soma = "No Soma" not in rec["domain"]
        assert (nodes[0][1] == 1) == has_soma
        if rec["neuron_id"] != 1:
            assert abs(len(body) - db.swc_size_target(rec["neuron_id"])) < 1000
        assert min(n[5] for n in nodes) > 0
        first = next(ln for ln in body.decode("latin-1").splitlines() if not ln.startswith("#"))
        styles.add("tab" if "\t" in first else "lead" if first.startswith(" ") else "plain")
        if "  " in first.strip():
            styles.add("repeated")
    assert {"tab", "lead", "plain", "repeated"} <= styles


def test_size_distribution(db: SyntheticDatabase) -> None:
    sizes = sorted(db.swc_size_target(r["neuron_id"]) for r in db.neurons)
    median = statistics.median(sizes)
    p90 = sizes[int(0.9 * len(sizes))]
    assert 60_000 <= median <= 100_000
    assert 300_000 <= p90 <= 550_000
    assert sizes[-1] == 5_000_000
    assert sum(s > 1_000_000 for s in sizes) < 0.05 * len(sizes)


def test_large_file(db: SyntheticDatabase) -> None:
    rec = db.neuron_by_id(db.large_file_id)
    assert rec is not None
    body = db.swc(rec)  # how fast: benchmarks/run.py
    assert body is not None
    assert 4_900_000 <= len(body) <= 5_100_000
    assert len(_parse_swc(body)) > 50_000


def test_fault_ground_truth(db: SyntheticDatabase) -> None:
    assert len(db.missing_file_ids) >= 3
    assert len(db.broken_file_ids) >= 3
    assert not db.missing_file_ids & db.broken_file_ids
    assert 1 not in db.missing_file_ids | db.broken_file_ids
    for nid in db.missing_file_ids:
        rec = db.neuron_by_id(nid)
        assert rec is not None
        assert db.swc(rec) is None
    for nid in db.broken_file_ids:
        rec = db.neuron_by_id(nid)
        assert rec is not None
        body = db.swc(rec)
        assert body is not None
        with pytest.raises(ValueError):
            _parse_swc(body)


def test_encoding_quirks(db: SyntheticDatabase) -> None:
    assert sorted(db.encoding_quirks.values()) == ["latin-1", "latin-1", "utf-8-sig"]
    for nid, quirk in db.encoding_quirks.items():
        rec = db.neuron_by_id(nid)
        assert rec is not None
        body = db.swc(rec)
        assert body is not None
        if quirk == "latin-1":
            with pytest.raises(UnicodeDecodeError):
                body.decode("utf-8")
            assert "Müller" in body.decode("latin-1")
        else:
            assert body.startswith(b"\xef\xbb\xbf")
            assert b"\r\n" in body
        _parse_swc(body)


def test_other_files(db: SyntheticDatabase) -> None:
    rec = db.neuron_by_id(1)
    assert rec is not None
    assert db.source_path(rec) == "/dableFiles/wearne_hof/Source-Version/cnic_001.swc"
    assert db.source_file(rec).startswith(b"# original upload of cnic_001")
    assert b"cnic_001" in db.std_log(rec)
    assert b"cnic_001.CNG.swc" in db.remaining_issues(rec)
    assert db.png(rec).startswith(b"\x89PNG\r\n\x1a\n")


# ------------------------------------------------------------------------ file shapes

Node = tuple[int, int, float, float, float, float, int]


def _family(rec: dict[str, Any]) -> str:
    words = " ".join(rec["cell_type"]).lower()
    for key in ("purkinje", "glia", "pyramidal", "granule"):
        if key in words:
            return key
    return "multipolar"


def _direction(v: tuple[float, ...]) -> tuple[float, ...]:
    n = sum(c * c for c in v) ** 0.5
    return tuple(c / n for c in v)


def _shape(nodes: list[Node]) -> dict[str, Any]:
    """Tree measures: primary neurites, bifurcations, extents, path lengths, steps, radii."""
    by_id = {n[0]: n for n in nodes}
    children: dict[int, list[Node]] = {}
    for n in nodes:
        children.setdefault(n[6], []).append(n)
    soma = {n[0] for n in nodes if n[1] == 1} or {nodes[0][0]}
    primary = [n for n in nodes if n[0] not in soma and n[6] in soma]
    dist = {}
    steps = []
    cable = 0.0
    for nid, _, x, y, z, _, parent in nodes:
        if parent == -1:
            dist[nid] = 0.0
            continue
        p = by_id[parent]
        d = ((x - p[2]) ** 2 + (y - p[3]) ** 2 + (z - p[4]) ** 2) ** 0.5
        dist[nid] = dist[parent] + d
        if nid not in soma:
            cable += d
            if parent not in soma:
                steps.append(d)
    extents = sorted(
        (max(n[k] for n in nodes) - min(n[k] for n in nodes) for k in (2, 3, 4)), reverse=True
    )
    return {
        "primary": primary,
        "bifurcations": sum(1 for nid, c in children.items() if len(c) >= 2 and nid not in soma),
        "extents": extents,
        "max_path": max(dist.values()),
        "cable": cable,
        "steps": steps,
        "tips": [n for n in nodes if n[0] not in children and n[0] not in soma],
        "types": {n[1] for n in nodes},
        "by_id": by_id,
        "children": children,
    }


@pytest.fixture(scope="module")
def shapes(db: SyntheticDatabase) -> list[tuple[dict[str, Any], list[Node], dict[str, Any]]]:
    """Every 19th good neuron (cnic_001 first) of up to 300 KB, parsed and measured."""
    bad = db.missing_file_ids | db.broken_file_ids
    out = []
    for rec in db.neurons[::19]:
        nid = rec["neuron_id"]
        if nid in bad or db.swc_size_target(nid) > 300_000:
            continue
        body = db.swc(rec)
        assert body is not None
        nodes = _parse_swc(body)
        out.append((rec, nodes, {**_shape(nodes), "size": len(body)}))
    assert len(out) > 120
    return out


def test_swc_soma_and_primary_neurites(
    shapes: list[tuple[dict[str, Any], list[Node], dict[str, Any]]],
) -> None:
    for rec, nodes, s in shapes:
        if "No Soma" not in rec["domain"]:
            assert [n[1] for n in nodes[:3]] == [1, 1, 1]
            assert nodes[0][2:5] == (0.0, 0.0, 0.0)  # the soma sits at the origin
        else:
            assert nodes[0][1] != 1 and nodes[0][6] == -1
        primary = s["primary"]
        assert len(primary) <= 11
        if rec["domain"].startswith("No Dendrites"):
            continue  # one axon, branching from the start
        # several primary neurites, leaving in different directions
        assert len(primary) >= (2 if _family(rec) == "purkinje" else 3), rec["neuron_id"]
        heads = [_direction(n[2:5]) for n in primary]
        for i, a in enumerate(heads):
            assert all(sum(p * q for p, q in zip(a, b)) < 0.995 for b in heads[:i])
        if _family(rec) in ("multipolar", "glia"):  # all around the soma
            resultant = [sum(h[k] for h in heads) / len(heads) for k in range(3)]
            assert sum(c * c for c in resultant) ** 0.5 < 0.7


def test_swc_trees_are_bushy_not_lines(
    shapes: list[tuple[dict[str, Any], list[Node], dict[str, Any]]],
) -> None:
    median_sized = [s for _, _, s in shapes if 50_000 <= s["size"] <= 150_000]
    assert len(median_sized) > 30
    bifurcations = [s["bifurcations"] for s in median_sized]
    assert min(bifurcations) >= 15
    assert statistics.median(bifurcations) >= 40
    for s in median_sized:
        # a line would reach its whole cable from the soma; a tree a small part of it
        assert s["max_path"] < 0.25 * s["cable"]
        # ... and the path to its farthest tip is not much longer than the cell is wide
        assert s["max_path"] < 2.5 * s["extents"][0]
    # Not a line in space either: the second-largest extent is a good part of the largest.
    flat = [s["extents"][1] / s["extents"][0] for _, _, s in shapes]
    assert sum(r >= 1 / 3 for r in flat) >= 0.8 * len(flat)
    assert min(flat) > 0.1


def test_swc_steps_extents_and_radii(
    shapes: list[tuple[dict[str, Any], list[Node], dict[str, Any]]],
) -> None:
    for rec, _, s in shapes:
        # smooth walks: 1-5 um between consecutive points (4-decimal rounding aside)
        assert min(s["steps"]) >= 0.99
        assert max(s["steps"]) <= 5.01
        big = s["extents"][0]
        if 50_000 <= s["size"] <= 150_000:  # a few hundred um across
            if _family(rec) == "glia":
                assert 30 <= big <= 300
            else:
                assert 150 <= big <= 2500, rec["neuron_id"]
        # radii taper: a point is never thicker than its parent (soma aside)
        by_id = s["by_id"]
        for nid, kids in s["children"].items():
            if nid in by_id and by_id[nid][1] != 1:
                assert max(k[5] for k in kids) <= by_id[nid][5] + 1e-4
        # ... and thin out with branch order: tips are much thinner than primary neurites
        if s["bifurcations"] >= 20:
            primary_r = statistics.mean(n[5] for n in s["primary"])
            assert statistics.mean(n[5] for n in s["tips"]) < 0.6 * primary_r


def test_swc_rall_like_radii(db: SyntheticDatabase) -> None:
    rec = db.neuron_by_id(6)
    assert rec is not None
    nodes = _parse_swc(db.swc(rec) or b"")
    kids: dict[int, list[Node]] = {}
    for n in nodes:
        kids.setdefault(n[6], []).append(n)
    by_id = {n[0]: n for n in nodes}
    checked = 0
    for nid, below in kids.items():
        if len(below) == 2 and by_id[nid][1] != 1 and min(k[5] for k in below) > 0.25:
            # r ** 1.5 = r1 ** 1.5 + r2 ** 1.5 up to the taper along a segment
            ratio = sum(k[5] ** 1.5 for k in below) / by_id[nid][5] ** 1.5
            assert 0.8 <= ratio <= 1.05
            checked += 1
    assert checked >= 5


def test_swc_families_look_different(
    shapes: list[tuple[dict[str, Any], list[Node], dict[str, Any]]],
) -> None:
    seen: Counter[str] = Counter()
    for rec, nodes, s in shapes:
        family = _family(rec)
        domain = rec["domain"]
        seen[family] += 1
        has_axon = "Axon" in domain and "No Axon" not in domain
        has_dendrites = not domain.startswith("No Dendrites")
        assert (2 in s["types"]) == has_axon
        assert (3 in s["types"]) == has_dendrites
        assert (4 in s["types"]) == (family == "pyramidal" and has_dendrites)
        dend = [n for n in nodes if n[1] in (3, 4)]
        if family == "pyramidal" and has_dendrites:
            apical = [n for n in nodes if n[1] == 4]
            basal = [n for n in nodes if n[1] == 3]
            assert statistics.mean(n[3] for n in apical) > 0.1 * s["extents"][0]  # above
            assert statistics.mean(n[3] for n in apical) > statistics.mean(n[3] for n in basal)
        elif family == "purkinje" and has_dendrites:
            xs, zs = [n[2] for n in dend], [n[4] for n in dend]
            assert max(zs) - min(zs) < 0.2 * (max(xs) - min(xs))  # a flat fan
            assert sum(n[3] > 0 for n in dend) > 0.95 * len(dend)  # above the soma
        elif family == "granule" and has_dendrites:
            assert sum(n[3] > 0 for n in dend) > 0.95 * len(dend)  # a cone above the soma
        elif family == "glia":
            assert len(s["primary"]) >= 7
            assert s["extents"][0] < 300  # small and bushy
            assert s["bifurcations"] > 0.03 * len(nodes)
    assert set(seen) == {"pyramidal", "multipolar", "purkinje", "granule", "glia"}


def test_large_file_is_a_big_tree(db: SyntheticDatabase) -> None:
    rec = db.neuron_by_id(db.large_file_id)
    assert rec is not None
    s = _shape(_parse_swc(db.swc(rec) or b""))
    assert s["bifurcations"] > 500
    assert s["max_path"] < 0.05 * s["cable"]
    assert s["extents"][1] > s["extents"][0] / 3
