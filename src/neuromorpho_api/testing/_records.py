"""Records of the synthetic database: neurons, literature, morphometry, persistence vectors.

This module is long because the draw order of its builders is the determinism contract:
draws that must change together stay together.

Each builder draws from its own :class:`random.Random`, in a fixed order, with calls whose
output is stable across Python 3.9-3.13; reordering draws here changes every record.
Archive sizes are fixed at the default ``n_neurons=3000`` and scale proportionally otherwise.

Two layouts: :func:`build_neurons` draws every record from one stream (the default
databases, whose records are documented); :func:`layout_chunks` plans a large database in
chunks of at most :data:`CHUNK` neurons of one archive, each with its own upload date and
its own stream, so :func:`build_chunk` makes any chunk's records on demand.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ._names import neuron_name
from ._schema import (
    ARCHIVES,
    ATTRIBUTES,
    CNIC_001,
    CONDITIONS,
    DOMAINS,
    GENDERS,
    HOST,
    INTEGRITY,
    JOURNALS,
    MAGNIFICATIONS,
    NOTES,
    OBJECTIVES,
    PROTOCOLS,
    SLICING,
    SOFTWARE_FORMAT,
    SPECIES,
    STAINS,
    THICKNESS,
    Archive,
)

__all__ = [
    "CHUNK",
    "SWC_CAP",
    "Chunk",
    "build_chunk",
    "build_literature",
    "build_morphometry",
    "build_neurons",
    "layout_chunks",
    "swc_target",
]

_SWC_MEDIAN = 80_000
_SWC_SIGMA = 1.2  # p90 = median * exp(1.2816 * sigma) ~ 370 KB before archive factors
SWC_CAP = 5_000_000


def _allocate(n: int) -> list[tuple[Archive, int]]:
    """Archive sizes summing to ``n``: exact plan at 3000, proportional otherwise."""
    if n == 3000:
        return [(a, a.count) for a in ARCHIVES]
    counts = [max(a.floor, 1, round(a.count * n / 3000)) for a in ARCHIVES]
    filler = len(ARCHIVES) - 1
    counts[filler] += n - sum(counts)
    while counts[filler] < 1:
        # Too small for every archive's floor: shrink the largest, then drop archives
        # from the end (never the first, which holds neuron 1).
        big = max(range(filler), key=counts.__getitem__)
        if counts[big] > 1:
            counts[big] -= 1
        else:
            alive = [k for k in range(1, filler) if counts[k]]
            if not alive:
                return [(ARCHIVES[0], n)]
            counts[alive[-1]] = 0
        counts[filler] += 1
    return [(a, c) for a, c in zip(ARCHIVES, counts) if c > 0]


def _fmt_float(x: float, digits: int = 2) -> str:
    """Java-like ``Double.toString`` text of a rounded value ("834.0", "8842.91")."""
    return repr(round(x, digits))


@dataclass
class _Lab:
    """Per-archive defaults: labs use one protocol, one stain, one program."""

    stain: str
    software: str
    fmt: str
    protocol: str
    slicing: str
    objective: str
    magnification: str
    thickness: str
    domain: str
    attributes: str
    integrity: str
    shrinkage: str
    gender: str
    age_class: str
    upload: datetime.date


def build_neurons(
    n_neurons: int, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[int, int], frozenset[int]]:
    """Neuron records in id order, SWC size targets by id, and ids without morphometry."""
    plan = _allocate(n_neurons)
    # Releases add archives in batches; split the bigger ones in two and shuffle,
    # keeping Wearne_Hof's first block (neuron 1) in front.
    blocks: list[tuple[Archive, int]] = []
    for arch, count in plan:
        if count >= 40 and rng.random() < 0.5:
            cut = count // 3 + rng.randrange(count // 3)
            blocks += [(arch, cut), (arch, count - cut)]
        else:
            blocks.append((arch, count))
    head, rest = blocks[0], blocks[1:]
    rng.shuffle(rest)
    blocks = [head, *rest]

    labs: dict[str, _Lab] = {}
    next_index: dict[str, int] = {}
    papers: dict[str, list[Any]] = {}
    used_pmids: set[str] = {"12204204", "12902394"}
    neurons: list[dict[str, Any]] = []
    swc_targets: dict[int, int] = {}
    no_morph: set[int] = set()
    nid = 0
    day = datetime.date(2006, 1, 1).toordinal()
    for arch, count in blocks:
        lab = labs.get(arch.name)
        day += rng.randrange(20, 400)
        if lab is None:
            lab = _archive_lab(arch, rng, datetime.date.fromordinal(day))
            labs[arch.name] = lab
            next_index[arch.name] = 1
            papers[arch.name] = [0, None]
        upload = datetime.date.fromordinal(min(day, datetime.date(2025, 6, 1).toordinal()))
        for _ in range(count):
            nid += 1
            if nid > 1 and rng.random() < 0.004:
                nid += rng.randrange(1, 6)  # ids have gaps, like the real database
            i = next_index[arch.name]
            next_index[arch.name] = i + 1
            if nid == 1:
                rec = dict(CNIC_001)
            else:
                rec = _neuron(nid, i, arch, lab, upload, rng, papers[arch.name], used_pmids)
            rec["_links"] = _links(nid)
            neurons.append(rec)
            swc_targets[nid] = swc_target(rng, arch.size_factor)
            if nid > 1 and rng.random() < 0.02:
                no_morph.add(nid)
    return neurons, swc_targets, frozenset(no_morph)


def swc_target(rng: random.Random, size_factor: float) -> int:
    """Byte size an SWC body is generated to approach (log-normal, capped)."""
    size = rng.lognormvariate(math.log(_SWC_MEDIAN), _SWC_SIGMA) * size_factor
    return int(min(SWC_CAP, max(3_000.0, size)))


def _links(nid: int) -> dict[str, dict[str, str]]:
    return {
        "self": {"href": f"{HOST}/api/neuron/id/{nid}"},
        "measurements": {"href": f"{HOST}/api/morphometry/id/{nid}"},
        "persistence_vector": {"href": f"{HOST}/api/pvec/id/{nid}"},
    }


def _archive_lab(arch: Archive, rng: random.Random, upload: datetime.date) -> _Lab:
    lab = _lab(arch, rng, upload)
    if arch.name != "Wearne_Hof":
        return lab
    return dataclasses.replace(
        lab,
        stain="lucifer yellow",
        software="Neurozoom",
        fmt="Neurozoom.swc",
        protocol="in vivo",
        slicing="custom",
        objective="Not reported",
        magnification="100",
        thickness="400",
        attributes="Diameter, 3D, Angles",
        integrity="Dendrites Moderate",
        shrinkage="Reported",
        gender="Male/Female",
        age_class="old",
    )


#: Most neurons in one chunk of a large database.
CHUNK = 256


@dataclass(frozen=True)
class Chunk:
    """Consecutive neurons of one archive, uploaded on one day (a large database's unit)."""

    index: int
    archive: Archive
    lab: _Lab
    upload: datetime.date
    first: int  # archive-local index of the first neuron (names count from it)
    ids: tuple[int, ...]


def layout_chunks(n_neurons: int, seed: int) -> tuple[list[Chunk], frozenset[int]]:
    """Plan a database of *n_neurons* in chunks, in id order; and the ids without morphometry.

    Cheap (no record is made): ids with gaps, archives, labs and upload dates only. Chunks
    of different archives interleave, and every chunk has a later upload date than the one
    before, so a large database has many upload dates (over 500 from about 130,000 neurons).
    """
    rng = random.Random(f"{seed}:layout")
    pieces: list[tuple[Archive, int]] = []
    for arch, count in _allocate(n_neurons):
        pieces += [(arch, min(CHUNK, count - k)) for k in range(0, count, CHUNK)]
    head, rest = pieces[0], pieces[1:]  # Wearne_Hof's first chunk holds neuron 1
    rng.shuffle(rest)
    labs = {
        arch.name: _archive_lab(arch, random.Random(f"{seed}:lab:{arch.name}"), _FIRST_DAY)
        for arch, _ in _allocate(n_neurons)
    }
    chunks: list[Chunk] = []
    no_morph: set[int] = set()
    next_index: dict[str, int] = {}
    nid = 0
    day = _FIRST_DAY.toordinal()
    last = datetime.date(2025, 6, 1).toordinal()
    rnd = rng.random
    for k, (arch, count) in enumerate([head, *rest]):
        day = min(day + rng.randrange(1, 8), last)
        ids: list[int] = []
        for _ in range(count):
            nid += 1
            if nid > 1 and rnd() < 0.004:
                nid += rng.randrange(1, 6)  # ids have gaps, like the real database
            ids.append(nid)
            if nid > 1 and rnd() < 0.02:
                no_morph.add(nid)
        first = next_index.get(arch.name, 1)
        next_index[arch.name] = first + count
        upload = datetime.date.fromordinal(day)
        chunks.append(Chunk(k, arch, labs[arch.name], upload, first, tuple(ids)))
    return chunks, frozenset(no_morph)


_FIRST_DAY = datetime.date(2006, 1, 1)


def build_chunk(chunk: Chunk, seed: int) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The records of *chunk* (id order) and their SWC size targets, from the chunk's own stream."""
    rng = random.Random(f"{seed}:chunk:{chunk.index}")
    paper: list[Any] = [0, None]
    used_pmids: set[str] = {"12204204", "12902394"}
    arch, lab = chunk.archive, chunk.lab
    records: list[dict[str, Any]] = []
    targets: dict[int, int] = {}
    for k, nid in enumerate(chunk.ids):
        if nid == 1:
            rec = dict(CNIC_001)
        else:
            rec = _neuron(nid, chunk.first + k, arch, lab, chunk.upload, rng, paper, used_pmids)
        rec["_links"] = _links(nid)
        records.append(rec)
        targets[nid] = swc_target(rng, arch.size_factor)
    return records, targets


def _lab(arch: Archive, rng: random.Random, upload: datetime.date) -> _Lab:
    c = rng.choice
    software, fmt = c(SOFTWARE_FORMAT)
    return _Lab(
        stain=c(STAINS),
        software=software,
        fmt=fmt,
        protocol=c(PROTOCOLS),
        slicing=c(SLICING),
        objective=c(OBJECTIVES),
        magnification=c(MAGNIFICATIONS),
        thickness=c(THICKNESS),
        domain=arch.domain or c(DOMAINS),
        attributes=c(ATTRIBUTES),
        integrity=c(INTEGRITY),
        shrinkage=c(("Reported", "Not Reported", "Not Reported", "Not applicable")),
        gender=c(GENDERS),
        age_class=c(("adult", "young", "old", "adult", "Not reported")),
        upload=upload,
    )


def _neuron(
    nid: int,
    i: int,
    arch: Archive,
    lab: _Lab,
    upload: datetime.date,
    rng: random.Random,
    paper: list[Any],
    used_pmids: set[str],
) -> dict[str, Any]:
    rnd = rng.random
    c = rng.choice
    # species
    x = rnd()
    species = arch.species[-1][0]
    for name, weight in arch.species:
        if x < weight:
            species = name
            break
        x -= weight
    strains, sci, age_scale = SPECIES[species]
    name = neuron_name(arch.naming, i, rng, species)
    y = rnd()
    scientific: str | None = sci if y >= 0.04 else ("" if y < 0.02 else None)
    y = rnd()
    note: str | None = "" if y < 0.7 else (None if y < 0.9 else c(NOTES))
    if rnd() < 0.05:
        age_scale = "Not Reported"
    # publication: consecutive neurons of an archive share a paper
    if paper[0] <= 0:
        paper[0] = rng.randrange(2, 9)
        pmid = str(rng.randrange(10_000_000, 36_000_000))
        while pmid in used_pmids:
            pmid = str(rng.randrange(10_000_000, 36_000_000))
        used_pmids.add(pmid)
        journal = c(("jcn", "cercor", "jneurosci", "elife"))
        doi = f"10.{rng.randrange(1000, 9999)}/{journal}.{pmid}"
        paper[1] = ([pmid], [doi])
    paper[0] -= 1
    pmids, dois = paper[1]
    # shrinkage
    shrink = lab.shrinkage
    reported: list[str | None] = [None, None, None]
    corrected: list[str | None] = [None, None, None]
    if shrink == "Reported":
        corrected_txt = "Corrected" if rnd() < 0.5 else "Not Corrected"
        v = _fmt_float(10 + rnd() * 40, 1)
        reported = [v, _fmt_float(5 + rnd() * 20, 1), _fmt_float(20 + rnd() * 40, 1)]
        if corrected_txt == "Corrected":
            corrected = list(reported)
    elif shrink == "Not Reported":
        corrected_txt = ""
    else:
        corrected_txt = "Not applicable"
    domain = lab.domain
    soma = None if "No Soma" in domain else _fmt_float(rng.lognormvariate(6.5, 0.5), 2)
    surface = rng.lognormvariate(9.0, 0.8)
    if age_scale == "Not Reported":
        min_age = max_age = "Not reported"
    else:
        lo = 1 + rnd() * 60
        min_age, max_age = _fmt_float(lo, 1), _fmt_float(lo + rnd() * 10, 1)
    if rnd() < 0.6:
        min_w = max_w = "Not Reported"
    else:
        w = 20 + rnd() * 400
        min_w, max_w = _fmt_float(w, 1), _fmt_float(w * (1 + rnd()), 1)
    deposition = datetime.date.fromordinal(upload.toordinal() - rng.randrange(0, 400))
    png = f"{HOST}/images/imageFiles/{quote(arch.name, safe='')}/{quote(name, safe='')}.png"
    values: dict[str, Any] = {
        "neuron_id": nid,
        "neuron_name": name,
        "archive": arch.name,
        "note": note,
        "age_scale": age_scale,
        "gender": lab.gender if rnd() < 0.9 else c(GENDERS),
        "age_classification": lab.age_class,
        "brain_region": list(c(arch.regions)),
        "cell_type": list(c(arch.cell_types)),
        "species": species,
        "strain": c(strains),
        "scientific_name": scientific,
        "stain": lab.stain,
        "experiment_condition": list(c(CONDITIONS)),
        "protocol": lab.protocol,
        "slicing_direction": lab.slicing,
        "reconstruction_software": lab.software,
        "objective_type": lab.objective,
        "original_format": lab.fmt,
        "domain": domain,
        "attributes": lab.attributes,
        "magnification": lab.magnification,
        "upload_date": upload.isoformat(),
        "deposition_date": deposition.isoformat(),
        "shrinkage_reported": shrink,
        "shrinkage_corrected": corrected_txt,
        "reported_value": reported[0],
        "reported_xy": reported[1],
        "reported_z": reported[2],
        "corrected_value": corrected[0],
        "corrected_xy": corrected[1],
        "corrected_z": corrected[2],
        "soma_surface": soma,
        "surface": _fmt_float(surface),
        "volume": _fmt_float(surface * (0.3 + rnd() * 0.5)),
        "slicing_thickness": lab.thickness,
        "min_age": min_age,
        "max_age": max_age,
        "min_weight": min_w,
        "max_weight": max_w,
        "png_url": png,
        "reference_pmid": list(pmids),
        "reference_doi": list(dois),
        "physical_Integrity": lab.integrity if rnd() < 0.8 else c(INTEGRITY),
    }
    return values


def build_literature(
    neurons: Iterable[Mapping[str, Any]], rng: random.Random
) -> list[dict[str, Any]]:
    """300 literature records; most cite the papers of *neurons* (read until 300 papers)."""
    pmids: list[tuple[str, str, Mapping[str, Any]]] = []
    seen: set[str] = set()
    for rec in neurons:
        p = rec["reference_pmid"][0]
        if p not in seen:
            seen.add(p)
            pmids.append((p, rec["reference_doi"][0], rec))
            if len(pmids) == 300:
                break
    words = (
        "dendritic",
        "morphology",
        "of",
        "pyramidal",
        "neurons",
        "in",
        "the",
        "aged",
        "cortex",
        "axonal",
        "arborization",
        "reconstruction",
        "hippocampal",
        "interneurons",
        "development",
        "quantitative",
        "analysis",
        "three-dimensional",
    )
    surnames = (
        "Ascoli",
        "Wearne",
        "Hof",
        "Jacobs",
        "Markram",
        "Smith",
        "Turner",
        "Amaral",
        "Claiborne",
        "Chklovskii",
        "Svoboda",
        "Baier",
        "Kubota",
        "Tsai",
        "Müller",
    )
    articles: list[dict[str, Any]] = []
    ts = 1_457_000_000  # 2016-03: ObjectIds start with a creation time
    for k in range(300):
        ts += rng.randrange(10_000, 800_000)
        article_id = f"{ts:08x}{rng.getrandbits(64):016x}"
        if k < len(pmids) and rng.random() < 0.7:
            pmid, doi, rec = pmids[k]
            species = [rec["species"]]
            region = [rec["brain_region"][0]]
            cell = [rec["cell_type"][0]]
            n_rec = rng.randrange(1, 60)
            status = "In repository"
        else:
            pmid = str(rng.randrange(10_000_000, 36_000_000))
            doi = f"10.{rng.randrange(1000, 9999)}/j.{pmid}"
            sp = rng.choice(tuple(SPECIES))
            species = [sp]
            region = [rng.choice(("neocortex", "hippocampus", "cerebellum", "retina"))]
            cell = [rng.choice(("pyramidal", "interneuron", "Purkinje", "ganglion"))]
            n_rec = 0
            status = rng.choice(
                ("Not available", "Determining availability", "Positive response", "Declined")
            )
        title = " ".join(rng.choice(words) for _ in range(rng.randrange(5, 12)))
        year = 1990 + rng.randrange(34)
        articles.append(
            {
                "article_id": article_id,
                "pmid": pmid,
                "doi": doi,
                "journal": rng.choice(JOURNALS),
                "title": title[0].upper() + title[1:],
                "authors": [
                    f"{rng.choice(surnames)} {chr(65 + rng.randrange(26))}"
                    for _ in range(rng.randrange(1, 6))
                ],
                "species": species,
                "brainRegion": region,
                "cellType": cell,
                "tracingSystem": [rng.choice(("Neurolucida", "Neurozoom", "Vaa3D", "Imaris"))],
                "evaluatedDate": datetime.date.fromordinal(
                    datetime.date(2016, 1, 1).toordinal() + rng.randrange(2500)
                ).isoformat(),
                "publishedDate": f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                "globalStatus": status,
                "collection": rng.choice(("NeuroMorpho", "Relevant", "Outside scope")),
                "dataUsage": [rng.choice(("DESCRIBING_NEURONS", "USING_MORPHOLOGIES"))],
                "sharedReconstructions": "Yes" if n_rec else "No",
                "status": status,
                "nReconstructions": n_rec,
                "_links": {"self": {"href": f"{HOST}/api/literature/id/{article_id}"}},
            }
        )
    return articles


def build_morphometry(
    records: Iterable[Mapping[str, Any]], seed: int | str, no_morphometry_ids: frozenset[int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Morphometry objects and persistence vectors of *records*, in their order."""
    morph: list[dict[str, Any]] = []
    pvec: list[dict[str, Any]] = []
    rng = random.Random(f"{seed}:morphometry")
    for rec in records:
        nid = rec["neuron_id"]
        rnd = rng.random
        stems = float(rng.randrange(1, 13))
        bifs = float(rng.randrange(5, 120))
        width, height, depth = (round(50 + rnd() * 900, 2) for _ in range(3))
        length = round(float(rec["surface"]) / (1.5 + rnd() * 3), 2)
        soma = rec["soma_surface"]
        m = {
            "neuron_name": rec["neuron_name"],
            "surface": float(rec["surface"]),
            "volume": float(rec["volume"]),
            "soma_Surface": float(soma) if soma is not None else 0.0,
            "n_stems": stems,
            "n_bifs": bifs,
            "n_branch": 2 * bifs + stems,
            "width": width,
            "height": height,
            "depth": depth,
            "diameter": round(0.3 + rnd() * 2, 2),
            "eucDistance": round(max(width, height) * (0.4 + rnd() * 0.5), 2),
            "pathDistance": round(max(width, height) * (0.6 + rnd() * 0.8), 2),
            "branch_Order": float(rng.randrange(3, 30)),
            "contraction": round(0.75 + rnd() * 0.2, 4),
            "fragmentation": float(rng.randrange(100, 5000)),
            "partition_asymmetry": round(0.3 + rnd() * 0.4, 4),
            "pk_classic": round(1.8 + rnd() * 0.8, 4),
            "bif_ampl_local": round(40 + rnd() * 60, 2),
            "fractal_Dim": round(1.0 + rnd() * 0.1, 4),
            "neuron_id": nid,
            "bif_ampl_remote": round(30 + rnd() * 60, 2),
            "length": length,
        }
        scale = round(0.5 + rnd() * 20, 6)
        decay = 5 + rnd() * 30
        coeffs = [round(math.exp(-k / decay) * (0.8 + rnd() * 0.4), 6) for k in range(100)]
        p = {
            "neuron_id": nid,
            "scaling_factor": scale,
            "distance": round(rnd() * 2000, 4),
            "coefficients": coeffs,
        }
        if nid in no_morphometry_ids:
            continue
        morph.append(m)
        pvec.append(p)
    return morph, pvec
