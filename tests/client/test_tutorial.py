"""The original neuromorpho-api tutorial and examples, step by step, against the emulator.

Each step is done twice: with the raw ``requestor`` as the tutorial did it, and with the
client in a few lines. Both must agree, and where the tutorial went wrong (a Source-Version
URL assumed to end in ``.swc``, an SWC file read as one column) the client must get it right.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from neuromorpho_api import NeuroMorphoSession, requestor
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api.testing import Emulator

ENDPOINT = "https://neuromorpho.org/api/"
SIEGERT = "CB_CKp25_2w_F_Animal01_*"


@pytest.fixture
def emu(neuromorpho_emulator: Emulator) -> Emulator:
    return neuromorpho_emulator


@pytest.fixture
def nmo(emu: Emulator) -> Iterator[NeuroMorpho]:
    with NeuroMorphoSession() as session:
        yield NeuroMorpho(session=session)  # default rate limit, as a user would have it


def without_links(record: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in record.items() if k != "_links"}


def parse_swc(text: str) -> list[tuple[int, int, float, float, float, float, int]]:
    """SWC rows: 7 whitespace-separated columns, ``#`` comments and blank lines skipped."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        n, kind, x, y, z, radius, parent = line.split()
        rows.append((int(n), int(kind), float(x), float(y), float(z), float(radius), int(parent)))
    return rows


# -- tutorial: neuron metadata -------------------------------------------------------------------


def test_step_1_metadata_by_id(nmo: NeuroMorpho) -> None:
    r = requestor.get(ENDPOINT + "neuron/id/1")
    r.raise_for_status()
    raw = r.json()

    record = nmo.neuron(1)
    assert record == without_links(raw)
    assert record["neuron_name"] == "cnic_001"


# -- tutorial: neuron query ------------------------------------------------------------------------


def test_step_2_select_by_name_pattern(nmo: NeuroMorpho) -> None:
    r = requestor.get(ENDPOINT + "neuron/select/", params={"q": f"neuron_name:{SIEGERT}"})
    r.raise_for_status()
    data = r.json()["_embedded"]["neuronResources"]
    assert len(data) == 15

    records = list(nmo.search(neuron_name=SIEGERT))
    assert len(records) == 15
    assert sorted(r["neuron_name"] for r in records) == sorted(d["neuron_name"] for d in data)


def test_step_2b_pages_are_followed(emu: Emulator, nmo: NeuroMorpho) -> None:
    # By hand, a bigger selection needs a loop over 0-based pages of at most 500 rows;
    # the default page is 50 and forgetting the last page loses records.
    raw_ids: list[int] = []
    page = 0
    while True:
        params: dict[str, str | int] = {"q": "species:rat", "page": page, "size": 500}
        r = requestor.get(ENDPOINT + "neuron/select", params={**params, "sort": "neuron_id,asc"})
        r.raise_for_status()
        body = r.json()
        raw_ids += [d["neuron_id"] for d in body["_embedded"]["neuronResources"]]
        page += 1
        if page >= body["page"]["totalPages"]:
            break

    ids = [r["neuron_id"] for r in nmo.search(species="rat")]
    assert ids == raw_ids
    assert len(ids) == nmo.count(species="rat") == 1141


# -- tutorial: neuron traces -----------------------------------------------------------------------


def test_step_3_download_a_trace(emu: Emulator, nmo: NeuroMorpho) -> None:
    records = list(nmo.search(neuron_name=SIEGERT))
    record = random.Random(0).choice(records)

    r = requestor.get(nmo.swc_url(record))  # the standardized file, correctly addressed
    r.raise_for_status()
    rows = parse_swc(r.text)
    assert rows
    assert all(len(row) == 7 for row in rows)
    assert rows[0][6] == -1  # the root has no parent
    assert r.content == emu.database.swc(record)

    # The tutorial's own template (Source-Version, always ".swc") is wrong whenever the
    # original upload is not an SWC file; the client derives the extension.
    files = nmo.file_urls(record)
    assert files.original is not None
    assert requestor.get(files.original).status_code == 200


def test_step_3b_source_version_for_every_format(emu: Emulator, nmo: NeuroMorpho) -> None:
    seen: dict[str, dict[str, object]] = {}
    for record in emu.database.neurons:
        seen.setdefault(str(record["original_format"]), record)
    for fmt, record in seen.items():
        url = nmo.file_urls(record).original
        assert url is not None
        tutorial_url = (
            "https://neuromorpho.org/dableFiles/"
            f"{str(record['archive']).lower()}/Source-Version/{record['neuron_name']}.swc"
        )
        assert (url == tutorial_url.replace(" ", "%20")) == fmt.endswith(".swc")
        assert requestor.get(url).status_code == 200, fmt


# -- examples page: neurons ----------------------------------------------------------------------


def test_example_neuron_by_id_or_name(nmo: NeuroMorpho) -> None:
    by_name = requestor.get(ENDPOINT + "neuron/name/cnic_001").json()
    assert nmo.neuron("cnic_001") == without_links(by_name) == nmo.neuron(1)


def test_example_custom_selection(emu: Emulator, nmo: NeuroMorpho) -> None:
    r = requestor.get(ENDPOINT + "neuron/select", params={"q": "species:cat"})
    r.raise_for_status()
    assert nmo.count(species="cat") == r.json()["page"]["totalElements"] > 0


def test_example_filter_queries(emu: Emulator, nmo: NeuroMorpho) -> None:
    criteria = {
        "species": ["cat", "rat", "monkey"],
        "stain": "lucifer yellow",
        "brain_region": "layer 3",
    }
    truth = emu.database.search(
        "species:cat,rat,monkey", ['stain:"lucifer yellow"', 'brain_region:"layer 3"']
    )
    assert truth
    ids = {r["neuron_id"] for r in nmo.search(criteria)}
    assert ids == {r["neuron_id"] for r in truth}
    assert all(r["stain"] == "lucifer yellow" for r in nmo.search(criteria))


def test_example_fields_values_partitions(nmo: NeuroMorpho) -> None:
    fields = requestor.get(ENDPOINT + "neuron/fields").json()["Neuron Fields"]
    assert nmo.fields() == fields
    species = requestor.get(ENDPOINT + "neuron/fields/species").json()["fields"]
    assert nmo.values("species") == species
    counts = requestor.get(ENDPOINT + "neuron/partition/species").json()["fields"]
    assert nmo.partition("species") == counts


# -- examples page: literature, morphometry, persistence vectors ------------------------------


def test_example_literature(emu: Emulator, nmo: NeuroMorpho) -> None:
    r = requestor.get(ENDPOINT + "literature/select", params={"q": "species:mouse"})
    r.raise_for_status()
    total = r.json()["page"]["totalElements"]
    assert len(list(nmo.literature(species="mouse"))) == total > 0

    fields = requestor.get(ENDPOINT + "literature/fields").json()["Literature Fields"]
    assert nmo.literature_fields() == fields
    values = requestor.get(ENDPOINT + "literature/fields/tracingSystem").json()["fields"]
    assert nmo.literature_values("tracingSystem") == values
    counts = requestor.get(ENDPOINT + "literature/partition/tracingSystem").json()["fields"]
    assert nmo.literature_partition("tracingSystem") == counts

    article_id = emu.database.literature[0]["article_id"]
    raw = requestor.get(ENDPOINT + f"literature/id/{article_id}").json()
    assert nmo.literature(article_id) == without_links(raw)


def test_example_morphometry(nmo: NeuroMorpho) -> None:
    raw = requestor.get(ENDPOINT + "morphometry/name/cnic_001").json()
    assert nmo.morphometry("cnic_001") == without_links(raw) == nmo.morphometry(1)


@pytest.mark.parametrize("pvec_body", ["json", "empty"])
def test_example_persistence_vector(emu: Emulator, nmo: NeuroMorpho, pvec_body: str) -> None:
    emu.options.pvec_body = pvec_body  # type: ignore[assignment]
    r = requestor.get(ENDPOINT + "pvec/id/1")
    r.raise_for_status()
    vector = nmo.pvec(1)
    if pvec_body == "empty":
        assert r.content == b""
        assert vector is None
    else:
        assert vector == without_links(r.json())
