"""``NeuroMorpho(mirror=...)``: the client's own methods answered offline, ``sync``, bulk online."""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuromorpho_api import NeuroMorphoSession, NeuronNotFound, UnknownFieldError
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._mirror import MirrorError, OfflineUnsupportedError, SyncReport, _paths
from neuromorpho_api.testing import Emulator


@pytest.fixture
def offline(synced_file: Path, emu: Emulator) -> Iterator[NeuroMorpho]:
    with NeuroMorphoSession() as session:
        client = NeuroMorpho(session=session, rate_limit=None, mirror=synced_file)
        emu.reset()
        yield client
        assert emu.requests == [], "an offline client sent a request"


def _api(emu: Emulator, part: str = "/api/") -> int:
    return sum(1 for r in emu.requests if r.target.startswith(part))


def test_every_query_method_answers_as_the_server_with_no_request(
    emu: Emulator, nmo: NeuroMorpho, synced_file: Path
) -> None:
    expected = {
        "fields": nmo.fields(),
        "values": nmo.values("brain_region"),
        "partition": list(nmo.partition("archive").items()),
        "count": nmo.count(species=["rat", "mouse"], brain_region="neocortex"),
        "count_all": nmo.count(),
        "search": list(nmo.search({"Physical_Integrity": "Dendrites*"}, species="rat")),
        "raw": list(nmo.search(q='archive:"Allen Cell Types"', fq=["species:mouse"], limit=7)),
        "neuron": nmo.neuron("cnic_001"),
        "morphometry": nmo.morphometry(2),
        "many": nmo.morphometry_many([1, 2, 3, 4]),
        "pvec": nmo.pvec(3),
        "pvec_many": nmo.pvec_many([{"neuron_id": 5}, 6]),
        "article": next(iter(nmo.literature(limit=1))),
        "articles": list(nmo.literature(limit=30)),
    }
    emu.reset()
    with NeuroMorphoSession() as session:
        off = NeuroMorpho(session=session, rate_limit=None, mirror=synced_file)
        got = {
            "fields": off.fields(),
            "values": off.values("brain_region"),
            "partition": list(off.partition("archive").items()),
            "count": off.count(species=["rat", "mouse"], brain_region="neocortex"),
            "count_all": off.count(),
            "search": list(off.search({"Physical_Integrity": "Dendrites*"}, species="rat")),
            "raw": list(off.search(q='archive:"Allen Cell Types"', fq=["species:mouse"], limit=7)),
            "neuron": off.neuron("cnic_001"),
            "morphometry": off.morphometry(2),
            "many": off.morphometry_many([1, 2, 3, 4]),
            "pvec": off.pvec(3),
            "pvec_many": off.pvec_many([{"neuron_id": 5}, 6]),
            "article": off.literature(expected["article"]["article_id"]),
            "articles": list(off.literature(limit=30)),
        }
    assert emu.requests == []
    assert got == expected


def test_errors_are_the_same_offline(offline: NeuroMorpho) -> None:
    with pytest.raises(NeuronNotFound):
        offline.neuron(999_999)
    with pytest.raises(UnknownFieldError):
        offline.count(specie="rat")
    with pytest.raises(OfflineUnsupportedError, match="species:rat mouse"):
        offline.count(q="species:rat mouse")
    with pytest.raises(OfflineUnsupportedError, match="literature"):
        list(offline.literature(q="species:rat"))
    with pytest.raises(OfflineUnsupportedError, match="literature fields"):
        offline.literature_fields()


def test_age_repr_and_files_from_the_server(
    emu: Emulator, synced_file: Path, tmp_path: Path
) -> None:
    with NeuroMorphoSession() as session:
        off = NeuroMorpho(session=session, rate_limit=None, mirror=synced_file)
        age = datetime.datetime.now(datetime.timezone.utc) - off.synced_at  # type: ignore[operator]
        assert datetime.timedelta(0) <= age < datetime.timedelta(hours=1)
        assert f"mirror={str(synced_file)!r}" in repr(off)
        assert NeuroMorpho(session=session).synced_at is None
        emu.reset()
        assert off.swc_url(1) == NeuroMorpho(session=session).swc_url(off.neuron(1))
        report = off.download({"archive": "Smith"}, tmp_path / "swc", progress=False, limit=3)
    assert report.ok and len(report.downloaded) == 3
    assert _api(emu) == 0  # the records came from the mirror, the files from the server
    assert _api(emu, "/dableFiles/") == 3


def test_a_mirror_that_does_not_exist_yet(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "later" / "mirror.sqlite"
    with NeuroMorphoSession() as session:
        client = NeuroMorpho(session=session, rate_limit=None, mirror=path)
        with pytest.raises(MirrorError, match=r"no mirror at .*neuromorpho sync"):
            client.count()
        report = client.sync(morphometry=False, progress=False)  # its own mirror by default
        assert isinstance(report, SyncReport) and report.added == report.total == 3000
        emu.reset()
        assert client.count(species="rat") == sum(
            1 for r in emu.database.neurons if r["species"] == "rat"
        )
        assert emu.requests == []
        with pytest.raises(MirrorError, match="without morphometry"):
            client.morphometry(1)


def test_default_path_from_the_environment_then_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, nmo: NeuroMorpho
) -> None:
    named = tmp_path / "named.sqlite"
    monkeypatch.setenv(_paths.ENV_VAR, str(named))
    assert _paths.default_path() == str(named)
    report = nmo.sync(morphometry=False, progress=False)
    assert report.total == 3000 and named.exists()
    assert NeuroMorpho(mirror=True).count() == 3000

    monkeypatch.delenv(_paths.ENV_VAR)
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "data"))
    assert _paths.default_path() == str(tmp_path / "data" / "mirror.sqlite")
    nmo.sync(morphometry=False, progress=False)  # creates the directory
    assert (tmp_path / "data" / "mirror.sqlite").exists()


def test_morphometry_many_online_costs_a_few_requests(emu: Emulator, nmo: NeuroMorpho) -> None:
    records = list(nmo.search(limit=1000))
    emu.reset()
    got = nmo.morphometry_many(records)
    have = [r["neuron_id"] for r in records]
    assert list(got) == [i for i in have if i not in emu.database.no_morphometry_ids]
    assert _api(emu) <= math.ceil(len(records) / 500) + 1
    emu.reset()
    assert set(nmo.pvec_many(have[:10])) <= set(have[:10])
    assert _api(emu) <= 2


def test_a_mirror_client_syncs_through_the_server(
    emu: Emulator, mirror_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_paths.ENV_VAR, raising=False)
    with NeuroMorphoSession() as session:
        client = NeuroMorpho(session=session, rate_limit=None, mirror=mirror_path)
        emu.reset()
        report = client.sync(progress=False)
        assert report.requests == _api(emu) <= 5
        assert os.fspath(mirror_path) == client.mirror
        emu.reset()
        assert client.morphometry_many([1]) and emu.requests == []  # answered offline again


def test_an_empty_environment_variable_is_no_choice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path))
    assert _paths.default_path({_paths.ENV_VAR: "  "}) == str(tmp_path / "mirror.sqlite")
    assert _paths.default_path({_paths.ENV_VAR: "~/m.sqlite"}) == os.path.expanduser("~/m.sqlite")
    assert not (tmp_path / "mirror.sqlite").exists()  # naming a path creates nothing


def test_offline_search_is_the_same_result_type(
    emu: Emulator, nmo: NeuroMorpho, synced_file: Path
) -> None:
    from neuromorpho_api import SearchResult

    online = nmo.search(archive="Smith", limit=40)
    expected_len, expected_repr = len(online), repr(online)
    expected_frame = online.to_dataframe()
    with NeuroMorphoSession() as session:
        off = NeuroMorpho(session=session, rate_limit=None, mirror=synced_file)
        emu.reset()
        result = off.search(archive="Smith", limit=40)
        assert isinstance(result, SearchResult)
        assert (len(result), repr(result)) == (expected_len, expected_repr)
        frame = result.to_dataframe()  # typed columns, as online
        assert frame.equals(expected_frame) and list(frame.dtypes) == list(expected_frame.dtypes)
        articles = off.literature(limit=3)
        assert isinstance(articles, SearchResult) and len(articles) == 3
        assert "3 articles" in repr(articles)
    assert emu.requests == []


def test_the_value_check_answers_as_online(nmo: NeuroMorpho, synced_file: Path) -> None:
    from neuromorpho_api import UnknownValueError

    checked = NeuroMorpho(session=nmo.session, rate_limit=None)
    offline = NeuroMorpho(session=nmo.session, rate_limit=None, mirror=synced_file)
    for criteria in ({"species": "rats"}, {"species": "Rat"}, {"brain_region": "neocortx"}):
        with pytest.raises(UnknownValueError) as online_error:
            checked.count(criteria)
        with pytest.raises(UnknownValueError) as offline_error:
            offline.count(criteria)
        assert str(offline_error.value) == str(online_error.value)
    stripped = {"species": "dragonfly"}  # stored as "dragonfly ": sent as stored
    assert offline.count(stripped) == checked.count(stripped)
