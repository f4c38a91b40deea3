"""Bulk morphometry and persistence vectors: few requests, exact fallback, absent means absent."""

from __future__ import annotations

import json
import math

import pytest

from neuromorpho_api._bulk import morphometry_many, neuron_ids, pvec_many
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api.testing import Emulator


def _api_requests(emu: Emulator, part: str) -> int:
    return sum(1 for r in emu.requests if part in r.target)


def test_neuron_ids_from_ids_and_records() -> None:
    assert neuron_ids([3, {"neuron_id": 1}, 3, 2]) == [3, 1, 2]
    with pytest.raises(TypeError):
        neuron_ids(["cnic_001"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        neuron_ids({"neuron_id": 1})


def test_many_ids_cost_one_select_per_500(emu: Emulator, nmo: NeuroMorpho) -> None:
    ids = [r["neuron_id"] for r in emu.database.neurons[:1200]]
    have = [i for i in ids if i not in emu.database.no_morphometry_ids]
    got = morphometry_many(nmo, ids)
    assert list(got) == have  # in the order asked, the ones without measurements absent
    for nid in (have[0], have[-1]):
        assert got[nid] == nmo.morphometry(nid)
    selects = _api_requests(emu, "/api/morphometry/select")
    alone = _api_requests(emu, "/api/morphometry/id/") - 2  # the two checks just above
    assert selects == math.ceil(len(ids) / 500)
    assert alone <= 1  # one probe learns that omissions mean "no measurements"
    assert selects + alone <= math.ceil(len(ids) / 500) + 1


def test_select_error_falls_back_to_single_calls(emu: Emulator, nmo: NeuroMorpho) -> None:
    ids = [r["neuron_id"] for r in emu.database.neurons[:30]]
    emu.faults.add(r"/api/morphometry/select", "status", status=400, times=100)
    got = morphometry_many(nmo, ids)
    assert set(got) == {i for i in ids if i not in emu.database.no_morphometry_ids}
    assert _api_requests(emu, "/api/morphometry/id/") == len(ids)


def test_select_omitting_ids_that_exist_is_caught(emu: Emulator, nmo: NeuroMorpho) -> None:
    ids = [
        r["neuron_id"]
        for r in emu.database.neurons[:40]
        if r["neuron_id"] not in emu.database.no_morphometry_ids
    ][:20]
    served = [nmo.morphometry(i) for i in ids[:5]]
    body = json.dumps(
        {
            "_embedded": {"measurements": served},
            "page": {"size": 500, "totalElements": 5, "totalPages": 1, "number": 0},
        }
    )
    emu.reset()
    emu.faults.add(
        r"/api/morphometry/select",
        "status",
        status=200,
        body=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    got = morphometry_many(nmo, ids)
    assert list(got) == ids  # the 15 the select left out were fetched one by one
    assert _api_requests(emu, "/api/morphometry/id/") == 15


def test_pvec_many(emu: Emulator, nmo: NeuroMorpho) -> None:
    ids = [r["neuron_id"] for r in emu.database.neurons[:50]]
    got = pvec_many(nmo, ids)
    assert set(got) == {i for i in ids if i not in emu.database.no_morphometry_ids}
    first = next(iter(got))
    assert got[first] == nmo.pvec(first)
    assert _api_requests(emu, "/api/pvec/select") == 1
