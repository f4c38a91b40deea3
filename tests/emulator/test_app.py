"""The emulator's application layer, called directly (no sockets)."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest

from neuromorpho_api.testing._app import EmulatorOptions, NeuroMorphoApp, Reply
from neuromorpho_api.testing._database import NEURON_FIELDS, SyntheticDatabase

BASE = "https://neuromorpho.org"


@pytest.fixture(scope="module")
def db() -> SyntheticDatabase:
    return SyntheticDatabase()


@pytest.fixture
def app(db: SyntheticDatabase) -> NeuroMorphoApp:
    return NeuroMorphoApp(db)


def call(
    app: NeuroMorphoApp,
    target: str,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    base_url: str = BASE,
) -> Reply:
    return app.handle(method, target, headers or {}, body, base_url=base_url)


def header(reply: Reply, name: str) -> str | None:
    found = [v for k, v in reply.headers if k.lower() == name.lower()]
    assert len(found) <= 1
    return found[0] if found else None


def ctype(reply: Reply) -> str:
    value = header(reply, "Content-Type")
    assert value is not None
    return value


def js(reply: Reply, status: int = 200) -> Any:
    assert reply.status == status, reply.body[:300]
    return json.loads(reply.body)


def error_body(status: int, message: str | None, path: str) -> dict[str, Any]:
    reasons = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    return {"status": status, "error": reasons[status], "message": message, "path": path}


def ids_of(page: dict[str, Any], key: str = "neuronResources") -> list[int]:
    return [r["neuron_id"] for r in page.get("_embedded", {}).get(key, [])]


# ------------------------------------------------------------------------------ basics


def test_health(app: NeuroMorphoApp) -> None:
    reply = call(app, "/api/health")
    assert js(reply) == {"status": "UP"}
    assert header(reply, "Content-Type") == "application/json"


def test_neuron_by_id(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    reply = call(app, "/api/neuron/id/1")
    assert header(reply, "Content-Type") == "application/hal+json"
    body = js(reply)
    assert body == db.neuron_by_id(1)
    assert list(body) == list(db.neurons[0])  # key order survives
    assert reply.body.startswith(b'{"neuron_id":1,"neuron_name":"cnic_001",')
    for target in ("/api/neuron/id/1.json", "/api/neuron/id/1/", "/neuroMorpho/api/neuron/id/1",
                   "https://neuromorpho.org/api/neuron/id/1", "/api/neuron/id/+1"):  # fmt: skip
        assert js(call(app, target)) == body, target


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("/api/neuron/id/999999999", 404, "Requested neuron not found"),
        ("/api/neuron/id/0", 404, "Requested neuron not found"),
        ("/api/neuron/name/AA1544", 404, "Requested neuron not found"),
        ("/api/neuron/name/cnic_001%20", 404, "Requested neuron not found"),
        ("/api/neuron/id/abc", 400, None),
        ("/api/neuron/id/1.5", 400, None),
        ("/api/neuron/id/99999999999", 400, None),  # beyond a Java int
        ("/api/morphometry/id/x", 400, None),
        ("/api/pvec/id/x", 400, None),
        ("/api/morphometry/id/999999999", 404, "Requested measurement not found"),
        ("/api/morphometry/name/nope", 404, "Requested measurement not found"),
        ("/api/pvec/id/999999999", 404, "Requested persistence vector not found"),
        ("/api/literature/id/56e9c95de4b0355017b314d2", 404, "Requested article not found"),
        ("/api/literature/id/xyz", 400, None),
        ("/api/nothing", 404, "No message available"),
        ("/api", 404, "No message available"),
        ("/api/neuron/frobnicate", 404, "No message available"),
        ("/api/pvec/name/cnic_001", 404, "No message available"),
        ("/api/neuron/fields/UNKNOWN_FIELD", 400, "undefined field UNKNOWN_FIELD"),
        ("/api/neuron/partition/UNKNOWN_FIELD", 400, "undefined field UNKNOWN_FIELD"),
        ("/api/neuron/select?q=UNKNOWN_FIELD:0", 400, "undefined field UNKNOWN_FIELD"),
        ("/api/neuron/select?q=species:rat&fq=nope:1", 400, "undefined field nope"),
        ("/api/neuron/select?q=species:rat&sort=nope,asc", 400, "undefined field nope"),
        ("/api/neuron?sort=nope", 400, "undefined field nope"),
        ("/api/literature/select?q=neuron_id:1", 400, "undefined field neuron_id"),
        ("/api/pvec/select?q=Neuron_id:1", 400, "undefined field Neuron_id"),
        ('/api/neuron/select?q=species:"rat', 400, "unterminated quoted phrase"),
    ],
)
def test_spring_errors(app: NeuroMorphoApp, target: str, status: int, message: str | None) -> None:
    reply = call(app, target)
    assert reply.status == status
    assert header(reply, "Content-Type") == "application/json"
    body = json.loads(reply.body)
    path = target.split("?")[0]
    assert list(body) == ["status", "error", "message", "path"]
    if message is None:
        text = body["message"]
        assert text.startswith("Failed to convert value of type") or "article id" in text
        body["message"] = None
    assert body == error_body(status, message, path)


def test_neuron_by_name_is_percent_decoded(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    for rec in db.neurons[::50]:
        target = "/api/neuron/name/" + quote(rec["neuron_name"], safe="")
        assert js(call(app, target))["neuron_id"] == rec["neuron_id"], target
    odd = next(r for r in db.neurons if "(" in r["neuron_name"])
    assert js(call(app, "/api/neuron/name/" + odd["neuron_name"]))["neuron_id"] == odd["neuron_id"]
    plus = next(r for r in db.neurons if "+" in r["neuron_name"])
    raw = "/api/neuron/name/" + plus["neuron_name"]  # '+' is not a space in a path
    assert js(call(app, raw))["neuron_id"] == plus["neuron_id"]


def test_error_bodies_exactly(app: NeuroMorphoApp) -> None:
    reply = call(app, "/api/neuron/name/AA1544")
    assert reply.body == (
        b'{"status":404,"error":"Not Found","message":"Requested neuron not found",'
        b'"path":"/api/neuron/name/AA1544"}'
    )


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("PUT", "/api/neuron/id/1"),
        ("DELETE", "/api/neuron/id/1"),
        ("POST", "/api/neuron/id/1"),
        ("PATCH", "/api/neuron"),
        ("POST", "/api/literature/select?q=title:x"),
        ("POST", "/api/health"),
        ("OPTIONS", "/api/neuron/select"),
    ],
)
def test_other_methods_get_405(app: NeuroMorphoApp, method: str, target: str) -> None:
    reply = call(app, target, method=method)
    body = js(reply, 405)
    assert body["error"] == "Method Not Allowed"
    assert body["message"] == f"Request method '{method}' not supported"
    assert header(reply, "Allow") is not None


def test_head_is_answered_like_get(app: NeuroMorphoApp) -> None:
    get = call(app, "/api/neuron/id/1")
    head = call(app, "/api/neuron/id/1", method="HEAD")
    assert (head.status, head.headers, head.body) == (get.status, get.headers, get.body)


def test_non_api_errors_are_html(app: NeuroMorphoApp) -> None:
    reply = call(app, "/nothing/here")
    assert reply.status == 404
    assert ctype(reply).startswith("text/html")
    assert b"<html>" in reply.body
    reply = call(app, "/dableFiles/wearne_hof/CNG%20version/cnic_001.CNG.swc", method="POST")
    assert reply.status == 405
    assert b"<html>" in reply.body


# ------------------------------------------------------------------------------ fields


def test_fields_list(app: NeuroMorphoApp) -> None:
    body = js(call(app, "/api/neuron/fields"))
    assert body == {"Neuron Fields": list(NEURON_FIELDS)}
    assert body["Neuron Fields"][-1] == "Physical_Integrity"
    app.options.integrity_field_name = "physical_integrity"
    assert js(call(app, "/api/neuron/fields"))["Neuron Fields"][-1] == "physical_integrity"


def test_field_values_all_in_one_page(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    reply = call(app, "/api/neuron/fields/species")
    assert header(reply, "Content-Type") == "application/json"
    body = js(reply)
    values = db.field_values("species")
    n = len(values)
    assert list(body) == ["field_name", "fields", "page"]
    assert body == {
        "field_name": "species",
        "fields": values,
        "page": {"size": n, "totalPages": 1, "totalElements": n, "number": 0},
    }
    assert list(body["page"]) == ["size", "totalPages", "totalElements", "number"]
    assert "dragonfly " in body["fields"]


def test_field_values_paging(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    everything = db.field_values("reference_pmid")
    n = len(everything)
    assert n > 500
    body = js(call(app, "/api/neuron/fields/reference_pmid"))
    assert body["fields"] == everything
    collected: list[str] = []
    page = 0
    while True:
        body = js(call(app, f"/api/neuron/fields/reference_pmid?page={page}&size=1000"))
        assert body["page"] == {"size": 500, "totalPages": math.ceil(n / 500),
                                "totalElements": n, "number": page}  # fmt: skip
        collected += body["fields"]
        if page >= body["page"]["totalPages"] - 1:
            break
        page += 1
    assert collected == everything
    past = js(call(app, f"/api/neuron/fields/reference_pmid?page={page + 1}&size=500"))
    assert past["fields"] == []
    app.options.fields_page_size = 100
    body = js(call(app, "/api/neuron/fields/reference_pmid"))
    assert len(body["fields"]) == 100
    assert body["page"]["totalPages"] == math.ceil(n / 100)
    app.options.oversize = "400"
    assert call(app, "/api/neuron/fields/reference_pmid?size=1000").status == 400


def test_field_aliases(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    for name in ("Physical_Integrity", "physical_Integrity", "physical_integrity"):
        body = js(call(app, f"/api/neuron/fields/{name}"))
        assert body["fields"] == db.field_values("physical_Integrity"), name
    body = js(call(app, "/api/neuron/fields/brain_region_1"))
    assert set(body["fields"]) == {r["brain_region"][0] for r in db.neurons}


def test_partition(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    body = js(call(app, "/api/neuron/partition/species"))
    counts = Counter(r["species"] for r in db.neurons)
    assert body["field_name"] == "species"
    assert body["fields"] == dict(sorted(counts.items()))
    assert list(body["fields"]) == sorted(counts)
    assert body["page"] == {"size": len(counts), "totalPages": 1,
                            "totalElements": len(counts), "number": 0}  # fmt: skip
    paged = js(call(app, "/api/neuron/partition/archive?size=5&page=1"))
    assert list(paged["fields"]) == sorted(Counter(r["archive"] for r in db.neurons))[5:10]


# ------------------------------------------------------------------------------ select


def select(app: NeuroMorphoApp, query: str, status: int = 200) -> Any:
    return js(call(app, "/api/neuron/select?" + query), status)


@pytest.mark.parametrize(
    ("q", "total"),
    [
        ("archive:Gonzalez-Burgos", 1),
        ("neuron_name:CB_CKp25_2w_F_Animal01_*", 15),
        ("archive:Jacobs", 499),
        ("archive:%22Allen%20Cell%20Types%22", 500),
        ("archive:Markram", 501),
        ("species:rat", 1141),
        ("neuron_id:[*%20TO%20*]", 3000),
    ],
)
def test_select_pagination(app: NeuroMorphoApp, db: SyntheticDatabase, q: str, total: int) -> None:
    first = select(app, f"q={q}&size=500")
    pages = math.ceil(total / 500)
    assert list(first) == ["_embedded", "page"]  # no top-level _links on neuron select
    assert first["page"] == {"size": 500, "totalElements": total, "totalPages": pages,
                             "number": 0}  # fmt: skip
    assert list(first["page"]) == ["size", "totalElements", "totalPages", "number"]
    got = ids_of(first)
    for number in range(1, pages):
        page = select(app, f"q={q}&size=500&page={number}")
        assert page["page"]["number"] == number
        got += ids_of(page)
    assert len(got) == total == len(set(got))
    assert got == sorted(got, key=str)  # neuron_id compared as a string
    assert got == [r["neuron_id"] for r in db.search(q.replace("%22", '"').replace("%20", " "))]
    assert select(app, f"q={q}&size=500&page={pages}", status=404) == error_body(
        404, "Requested neuron not found", "/api/neuron/select"
    )
    records = first["_embedded"]["neuronResources"]
    assert records[0] == db.neuron_by_id(records[0]["neuron_id"])


def test_select_zero_hits(app: NeuroMorphoApp) -> None:
    assert select(app, "q=species:axolotl", status=404) == error_body(
        404, "Requested neuron not found", "/api/neuron/select"
    )
    app.options.zero_hits = "empty"
    assert select(app, "q=species:axolotl") == {
        "page": {"size": 50, "totalElements": 0, "totalPages": 0, "number": 0}
    }
    assert select(app, "q=archive:Jacobs&page=10") == {
        "page": {"size": 50, "totalElements": 499, "totalPages": 10, "number": 10}
    }


def test_select_defaults_and_odd_parameters(app: NeuroMorphoApp) -> None:
    body = select(app, "q=species:rat")
    assert body["page"] == {"size": 50, "totalElements": 1141, "totalPages": 23, "number": 0}
    assert len(ids_of(body)) == 50
    for query in ("q=species:rat&size=&page=", "&q=species:rat&", "q=species:rat&size=x&page=y",
                  "q=species:rat&size=0&page=-3", "q=species:rat&q="):  # fmt: skip
        assert select(app, query) == body, query
    clamped = select(app, "q=species:rat&size=501")
    assert clamped["page"]["size"] == 500
    assert len(ids_of(clamped)) == 500
    app.options.oversize = "400"
    reply = call(app, "/api/neuron/select?q=species:rat&size=501")
    assert js(reply, 400)["message"] == "Page size must not be greater than 500"
    assert select(app, "q=species:rat&size=500")["page"]["size"] == 500


def test_select_query_forms(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    def total(query: str) -> int:
        reply = call(app, "/api/neuron/select?" + query + "&size=1")
        if reply.status == 404:
            return 0
        return int(js(reply)["page"]["totalElements"])

    rat = [r for r in db.neurons if r["species"] == "rat"]
    l5 = [r for r in rat if "layer 5" in r["brain_region"]]
    assert total("q=species:rat&fq=brain_region:%22layer%205%22") == len(l5)
    assert total("q=species:rat,mouse") == sum(r["species"] in ("rat", "mouse") for r in db.neurons)
    assert total("q=species:rat+brain_region:%22layer+5%22") == len(l5)  # '+' is a space
    app.options.clause_join = "OR"
    either = [r for r in db.neurons if r["species"] == "rat" or "layer 5" in r["brain_region"]]
    assert total("q=species:rat+brain_region:%22layer+5%22") == len(either)
    # unquoted multi-word: only the last word, as a token (reference §3.2)
    entorhinal = [r for r in db.neurons if "entorhinal cortex" in r["brain_region"]]
    cortex = [r for r in db.neurons if any("cortex" in v.split() for v in r["brain_region"])]
    assert total("q=brain_region:%22entorhinal%20cortex%22") == len(entorhinal)
    assert total("q=brain_region:entorhinal%20cortex") == len(cortex) > len(entorhinal)
    assert total("q=species:Drosophila?melanogaster") == 0  # case-sensitive
    assert total("q=species:drosophila?melanogaster") == sum(
        r["species"] == "drosophila melanogaster" for r in db.neurons
    )
    assert total("q=species:dragonfly%5C%20") == 20
    assert total("q=&fq=archive:Smith") == 80
    assert total("fq=archive:Smith&fq=species:rat") == 80
    assert total("fq=archive:Smith&fq=species:mouse&q=*:*") == 0


def test_select_sorting(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    base = "q=archive:Smith&size=500"
    default = ids_of(select(app, base))
    for sort in ("neuron_id", "neuron_id,asc", "neuron_id,neuron_id,asc", "neuron_id,ASC"):
        assert ids_of(select(app, f"{base}&sort={sort}")) == default, sort
    assert ids_of(select(app, f"{base}&sort=neuron_id,desc")) == default[::-1]
    names = select(app, f"{base}&sort=neuron_name,desc")["_embedded"]["neuronResources"]
    assert [r["neuron_name"] for r in names] == sorted((r["neuron_name"] for r in names),
                                                       reverse=True)  # fmt: skip


def test_select_post(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    body = {"species": ["mouse"], "brain_region": ["neocortex", "hippocampus"],
            "cell_type": ["interneuron", "pyramidal"]}  # fmt: skip
    expected = [r["neuron_id"] for r in db.select_post(body)]
    independent = [
        r["neuron_id"]
        for r in db.neurons
        if r["species"] == "mouse"
        and {"neocortex", "hippocampus"} & set(r["brain_region"])
        and {"interneuron", "pyramidal"} & set(r["cell_type"])
    ]
    assert sorted(expected) == independent
    raw = json.dumps(body).encode()
    for path in ("/api/neuron/select", "/api/neuron/select/"):
        got: list[int] = []
        page = 0
        while True:
            reply = call(app, f"{path}?page={page}&size=100", method="POST", body=raw,
                         headers={"Content-Type": "application/json"})  # fmt: skip
            data = js(reply)
            got += ids_of(data)
            if page + 1 >= data["page"]["totalPages"]:
                break
            page += 1
        assert got == expected
    nothing = call(app, "/api/neuron/select", method="POST", body=b'{"species":["axolotl"]}')
    assert nothing.status == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Required request body is missing"),
        (b"{not json", "JSON parse error"),
        (b"[1, 2]", "JSON parse error"),
        (b'{"nope": ["x"]}', "undefined field nope"),
        (b'{"species": []}', "no values given for species"),
    ],
)
def test_select_post_errors(app: NeuroMorphoApp, body: bytes, message: str) -> None:
    reply = call(app, "/api/neuron/select", method="POST", body=body)
    assert js(reply, 400)["message"].startswith(message)


# ------------------------------------------------------------------------------ listings


def test_neuron_listing_links(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    body = js(call(app, "/api/neuron?page=2&size=500"))
    assert list(body) == ["_embedded", "_links", "page"]
    assert list(body["_links"]) == ["first", "prev", "self", "next", "last"]

    def href(page: int) -> str:
        return (f"http://neuromorpho.org/api/neuron?page={page}&size=500"
                "&sort=neuron_id,neuron_id,asc")  # fmt: skip

    assert body["_links"] == {
        "first": {"href": href(0)},
        "prev": {"href": href(1)},
        "self": {"href": href(2)},
        "next": {"href": href(3)},
        "last": {"href": href(5)},
    }
    assert body["page"] == {"size": 500, "totalElements": 3000, "totalPages": 6, "number": 2}
    by_text = sorted((r["neuron_id"] for r in db.neurons), key=str)
    assert ids_of(body) == by_text[1000:1500]
    assert ids_of(js(call(app, "/api/neuron"))) == by_text[:50]
    assert by_text[0] == 1 and str(by_text[1]).startswith("1")
    first = js(call(app, "/api/neuron?size=500"))
    assert list(first["_links"]) == ["first", "self", "next", "last"]
    last = js(call(app, "/api/neuron?size=500&page=5"))
    assert list(last["_links"]) == ["first", "prev", "self", "last"]
    past = js(call(app, "/api/neuron?size=500&page=9"))
    assert "_embedded" not in past
    assert past["page"]["number"] == 9
    # a followed link works
    followed = body["_links"]["next"]["href"].replace("http://neuromorpho.org", "")
    assert ids_of(js(call(app, followed))) == by_text[1500:2000]
    desc = js(call(app, "/api/neuron?size=5&sort=neuron_id,desc"))
    assert ids_of(desc) == by_text[::-1][:5]
    assert desc["_links"]["self"]["href"].endswith("sort=neuron_id,neuron_id,desc")


def test_link_base_option(app: NeuroMorphoApp) -> None:
    assert b"https://" not in call(app, "/api/neuron?size=2").body
    app.options.link_base = "request"
    body = js(call(app, "/api/neuron?size=2", base_url="https://localhost:8443"))
    assert body["_links"]["self"]["href"].startswith("https://localhost:8443/api/neuron?")
    record = body["_embedded"]["neuronResources"][0]
    assert record["_links"]["self"]["href"] == (
        f"https://localhost:8443/api/neuron/id/{record['neuron_id']}"
    )
    # png_url is data, not a link
    assert record["png_url"].startswith("http://neuromorpho.org/images/")
    app.options.link_base = "http"
    again = js(call(app, "/api/neuron?size=2", base_url="https://localhost:8443"))
    assert again["_embedded"]["neuronResources"][0] == record | {
        "_links": {
            "self": {"href": f"http://neuromorpho.org/api/neuron/id/{record['neuron_id']}"},
            "measurements": {
                "href": f"http://neuromorpho.org/api/morphometry/id/{record['neuron_id']}"
            },
            "persistence_vector": {
                "href": f"http://neuromorpho.org/api/pvec/id/{record['neuron_id']}"
            },
        }
    }


# ------------------------------------------------------------------------------ morphometry, pvec


def test_morphometry_routes(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    one = js(call(app, "/api/morphometry/id/1"))
    assert one == db.morphometry(1)
    assert (one["surface"], one["volume"], one["soma_Surface"]) == (8842.91, 4725.89, 834.0)
    assert js(call(app, "/api/morphometry/name/cnic_001")) == one
    page = js(call(app, "/api/morphometry/select?q=Neuron_id:1,2,3&page=0&size=500"))
    assert [m["neuron_id"] for m in page["_embedded"]["measurements"]] == [
        n for n in (1, 2, 3) if n not in db.no_morphometry_ids
    ]
    assert page["_links"] == {
        "self": {"href": "http://neuromorpho.org/api/morphometry/select?q=Neuron_id:1,2,3"
                         "&page=0&size=500"}
    }  # fmt: skip
    missing = min(db.no_morphometry_ids)
    assert call(app, f"/api/morphometry/id/{missing}").status == 404
    listing = js(call(app, "/api/morphometry?size=10"))
    assert listing["page"]["totalElements"] == 3000 - len(db.no_morphometry_ids)
    empty = js(call(app, "/api/morphometry/select?q=Neuron_id:999999999"))
    assert "_embedded" not in empty
    assert empty["page"]["totalElements"] == 0


def test_pvec_routes(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    reply = call(app, "/api/pvec/id/1")
    assert js(reply) == db.pvec(1)
    page = js(call(app, "/api/pvec/select?q=neuron_id:1,2&size=500"))
    assert [p["neuron_id"] for p in page["_embedded"]["pvecs"]] == [
        n for n in (1, 2) if n not in db.no_morphometry_ids
    ]
    assert js(call(app, "/api/pvec?size=3"))["page"]["size"] == 3
    app.options.pvec_body = "empty"
    reply = call(app, "/api/pvec/id/1")
    assert (reply.status, reply.body) == (200, b"")
    assert call(app, "/api/pvec/id/999999999").status == 404


# ------------------------------------------------------------------------------ literature


def test_literature_routes(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    art = db.literature[0]
    one = js(call(app, f"/api/literature/id/{art['article_id']}"))
    assert one == art
    listing = js(call(app, "/api/literature?size=20"))
    assert [a["article_id"] for a in listing["_embedded"]["publicationResources"]] == [
        a["article_id"] for a in db.literature[:20]
    ]
    assert listing["page"]["totalElements"] == len(db.literature)
    fields = js(call(app, "/api/literature/fields"))
    assert fields["Literature Fields"][:3] == ["article_id", "pmid", "doi"]
    journals = js(call(app, "/api/literature/partition/journal"))
    assert sum(journals["fields"].values()) == len(db.literature)
    titles = js(call(app, "/api/literature/select?q=globalStatus:%22In%20repository%22"
                          "&sort=title,asc&size=500"))  # fmt: skip
    got = [a["title"] for a in titles["_embedded"]["publicationResources"]]
    assert got == sorted(a["title"] for a in db.literature if a["globalStatus"] == "In repository")


def test_literature_zero_hits_shape(app: NeuroMorphoApp) -> None:
    reply = call(app, "/api/literature/select?q=title:nothing&sort=title,asc")
    assert reply.status == 200
    assert json.loads(reply.body) == {
        "_links": {
            "self": {
                "href": "http://neuromorpho.org/api/literature/select?q=title:nothing"
                "&page=0&size=50&sort=title,asc"
            }
        },
        "page": {"size": 50, "totalElements": 0, "totalPages": 0, "number": 0},
    }


# ------------------------------------------------------------------------------ site and files


def test_homepage_and_down_mode(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    home = call(app, "/")
    assert home.status == 200
    assert ctype(home).startswith("text/html")
    assert b"Service Interruption Notice" not in home.body
    app.options.down = True
    assert b"Service Interruption Notice" in call(app, "/").body
    for target in ("/api/neuron/name/cnic_001", "/api/neuron/id/1", "/api/neuron/select?q=*:*",
                   "/api/neuron/fields", "/api/neuron"):  # fmt: skip
        reply = call(app, target)
        assert js(reply, 404)["message"] == "Requested neuron not found", target
    assert call(app, "/api/literature?size=1").status == 200
    assert js(call(app, "/api/health")) == {"status": "UP"}
    assert call(app, db.file_path(db.neurons[0])).status == 200


def test_swc_file(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    rec = db.neurons[0]
    reply = call(app, db.file_path(rec))
    assert reply.status == 200
    assert reply.body == db.swc(rec)
    assert header(reply, "Content-Type") == "text/plain"
    assert header(reply, "Last-Modified") == "Tue, 01 Aug 2006 00:00:00 GMT"
    etag = header(reply, "ETag")
    assert etag is not None and etag.startswith('"')
    assert header(reply, "Accept-Ranges") == "bytes"
    for rec in db.neurons[::150]:
        if rec["neuron_id"] in db.missing_file_ids:
            continue
        assert call(app, db.file_path(rec)).body == db.swc(rec), rec["neuron_name"]
    allen = next(r for r in db.neurons if r["archive"] == "Allen Cell Types")
    path = f"/dableFiles/allen%20cell%20types/CNG%20version/{allen['neuron_name']}.CNG.swc"
    assert call(app, path).status == 200
    mirror = call(app, "/neuroMorpho" + db.file_path(db.neurons[0]))
    assert mirror.body == db.swc(db.neurons[0])


@pytest.mark.parametrize(
    "path",
    [
        "/dableFiles/Wearne_Hof/CNG%20version/cnic_001.CNG.swc",  # archive must be lower-case
        "/dableFiles/wearne_Hof/CNG%20version/cnic_001.CNG.swc",
        "/dableFiles/wearne_hof/CNG_version/cnic_001.CNG.swc",
        "/dableFiles/wearne_hof/CNG%20version/cnic_001.swc",
        "/dableFiles/jacobs/CNG%20version/cnic_001.CNG.swc",  # wrong archive
        "/dableFiles/wearne_hof/Source-Version/cnic_001.asc",  # wrong extension
        "/dableFiles/wearne_hof/Source%20Version/cnic_001.swc",  # hyphen, not space
        "/images/imageFiles/wearne_hof/cnic_001.png",  # images keep the archive's case
        "/dableFiles/previous/v6.1/wearne_hof/cnic_002.CNG.swc",
    ],
)
def test_wrong_file_urls_are_html_404(app: NeuroMorphoApp, path: str) -> None:
    reply = call(app, path)
    assert reply.status == 404
    assert b"<html>" in reply.body
    assert ctype(reply).startswith("text/html")


def test_missing_and_broken_files(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    for nid in db.missing_file_ids:
        rec = db.neuron_by_id(nid)
        assert rec is not None
        reply = call(app, db.file_path(rec))
        assert reply.status == 404
        assert b"<html>" in reply.body
        # the metadata is still there
        assert call(app, f"/api/neuron/id/{nid}").status == 200
    for nid in db.broken_file_ids:
        rec = db.neuron_by_id(nid)
        assert rec is not None
        assert call(app, db.file_path(rec)).status == 200


def test_other_files(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    rec = db.neurons[0]
    source = call(app, db.source_path(rec))
    assert (source.status, source.body) == (200, db.source_file(rec))
    dat = next(r for r in db.neurons if r["original_format"] == "Neurolucida.dat")
    reply = call(app, db.source_path(dat))
    assert header(reply, "Content-Type") == "application/octet-stream"
    xml = next(r for r in db.neurons if r["original_format"] == "Custom.xml")
    assert db.source_path(xml).endswith(".morph.xml")
    assert call(app, db.source_path(xml)).status == 200
    std = call(app, "/dableFiles/wearne_hof/Standardization%20log/cnic_001.std")
    assert std.body == db.std_log(rec)
    issues = call(app, "/dableFiles/wearne_hof/Remaining%20issues/cnic_001.CNG.swc.std")
    assert issues.body == db.remaining_issues(rec)
    previous = call(app, "/dableFiles/previous/v6.1/wearne_hof/cnic_001.CNG.swc")
    assert previous.status == 200
    png = call(app, "/images/imageFiles/Wearne_Hof/cnic_001.png")
    assert header(png, "Content-Type") == "image/png"
    assert png.body.startswith(b"\x89PNG\r\n\x1a\n")
    allen = next(r for r in db.neurons if r["archive"] == "Allen Cell Types")
    via_url = allen["png_url"].replace("http://neuromorpho.org", "")
    assert call(app, via_url).status == 200


def test_ranges_and_validators(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    path = db.file_path(db.neurons[0])
    full = call(app, path)
    body = full.body
    size = len(body)
    part = call(app, path, headers={"Range": "bytes=100-199"})
    assert part.status == 206
    assert part.body == body[100:200]
    assert header(part, "Content-Range") == f"bytes 100-199/{size}"
    tail = call(app, path, headers={"range": "bytes=-10"})
    assert tail.body == body[-10:]
    rest = call(app, path, headers={"Range": f"bytes={size - 5}-"})
    assert rest.body == body[-5:]
    bad = call(app, path, headers={"Range": f"bytes={size}-"})
    assert bad.status == 416
    assert header(bad, "Content-Range") == f"bytes */{size}"
    etag = header(full, "ETag")
    assert etag is not None
    assert call(app, path, headers={"If-None-Match": etag}).status == 304
    assert call(app, path, headers={"If-None-Match": '"other"'}).status == 200
    stale = call(app, path, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (stale.status, stale.body) == (200, body)
    fresh = call(app, path, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (fresh.status, fresh.body) == (206, body[:10])
    multi = call(app, path, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status == 200


# ------------------------------------------------------------------------------ big pages
# How fast they are is measured by benchmarks/run.py, not asserted here.


def test_500_row_pages_page_through_all_rats(db: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(db, EmulatorOptions())
    rats = db.search("species:rat")
    seen = []
    for page in range(3):
        reply = call(app, f"/api/neuron/select?q=species:rat&size=500&page={page}")
        assert reply.status == 200
        seen += ids_of(json.loads(reply.body))
    assert seen == [r["neuron_id"] for r in rats][:1500]
