"""Deterministic synthetic NeuroMorpho.Org database for the offline emulator.

Everything derives from ``(n_neurons, seed)`` through private :class:`random.Random`
instances (never the global state) using only calls whose output is stable across
Python 3.9-3.13, so two builds with the same arguments are identical everywhere.

Records follow reference §4.2 exactly: 44 keys in record order plus ``_links``, numbers as
strings (``neuron_id`` is the only int), list fields, the empty-value zoo (``""``/``null``
notes and scientific names, ``"Not reported"``/``"Not Reported"``, ``null`` soma surface,
``""`` shrinkage correction, trailing spaces as in ``"dragonfly "`` and ``"Western "``),
``physical_Integrity`` and ``http://neuromorpho.org`` hrefs. Neuron 1 is the ``cnic_001``
record of the reference verbatim. Ids start at 1 and skip a few numbers like the real
database, so the largest id is a little above ``n_neurons``.

Archive sizes are fixed at the default ``n_neurons=3000`` (independent of the seed) and
scale proportionally otherwise. Criteria with known hit counts at ``n_neurons=3000``:

======================================================  ======
query                                                    hits
======================================================  ======
``species:axolotl`` (valid field, no value)              0
``archive:Gonzalez-Burgos``                              1
``neuron_name:CB_CKp25_2w_F_Animal01_*``                 15 (for any ``n_neurons >= 300``)
``archive:Jacobs``                                       499
``archive:"Allen Cell Types"``                           500
``archive:Markram``                                      501
``species:rat``                                          1141 (about 7600 at 20000)
``neuron_id:[* TO *]``                                   3000
======================================================  ======

``reference_pmid`` has more than 500 distinct values at the default size (so
``/fields/reference_pmid`` paging matters), and ``neuron_name`` has one per neuron.

Files: SWC sizes are log-normal (median about 85 KB, p90 about 450 KB, capped at 5 MB;
``large_file_id`` is one neuron at the cap); bodies are built on demand from
``(seed, neuron_id)`` and a few are kept in a small LRU cache. Ground truth for fault
tests: ``missing_file_ids`` (404), ``broken_file_ids`` (unparseable body),
``encoding_quirks`` (latin-1 header bytes, or a UTF-8 BOM with CRLF line ends),
``no_morphometry_ids`` (no morphometry and no persistence vector). The ``cnic_001`` file
has 1,281 non-blank lines like the real one.

Bodies are neuron-shaped: a three-point soma at the origin, several primary neurites, bushy
dendritic trees whose branches shorten and thin with order, an optional thinner and longer
axon with collaterals, all as smooth walks of 1-5 um steps. The shape follows the record's
``cell_type`` (pyramidal: apical and basal dendrites; Purkinje: a flat fan; glia: small and
bushy; granule: a cone; others multipolar), and bigger files hold bigger trees, not longer
lines.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import random
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from urllib.parse import quote

from ._search import ClauseJoin, Collection, Getter, parse_sort

__all__ = [
    "LITERATURE_KEYS",
    "MORPHOMETRY_KEYS",
    "NEURON_FIELDS",
    "NEURON_KEYS",
    "PVEC_KEYS",
    "SyntheticDatabase",
]

#: Record keys in the order the server writes them (reference §4.2).
NEURON_KEYS: tuple[str, ...] = (
    "neuron_id", "neuron_name", "archive", "note", "age_scale", "gender",
    "age_classification", "brain_region", "cell_type", "species", "strain",
    "scientific_name", "stain", "experiment_condition", "protocol", "slicing_direction",
    "reconstruction_software", "objective_type", "original_format", "domain", "attributes",
    "magnification", "upload_date", "deposition_date", "shrinkage_reported",
    "shrinkage_corrected", "reported_value", "reported_xy", "reported_z", "corrected_value",
    "corrected_xy", "corrected_z", "soma_surface", "surface", "volume", "slicing_thickness",
    "min_age", "max_age", "min_weight", "max_weight", "png_url", "reference_pmid",
    "reference_doi", "physical_Integrity",
)  # fmt: skip

#: ``/api/neuron/fields`` order (reference §4.3); the last entry's spelling is an option.
NEURON_FIELDS: tuple[str, ...] = (
    "neuron_id", "neuron_name", "archive", "age_scale", "gender", "reference_pmid",
    "reference_doi", "note", "age_classification", "brain_region", "cell_type", "species",
    "strain", "scientific_name", "stain", "experiment_condition", "protocol",
    "slicing_direction", "reconstruction_software", "objective_type", "original_format",
    "domain", "attributes", "magnification", "upload_date", "deposition_date",
    "shrinkage_reported", "shrinkage_corrected", "reported_value", "reported_xy",
    "reported_z", "corrected_value", "corrected_xy", "corrected_z", "soma_surface",
    "surface", "volume", "slicing_thickness", "min_age", "max_age", "min_weight",
    "max_weight", "png_url", "Physical_Integrity",
)  # fmt: skip

#: Morphometry keys in the observed order (reference §4.5).
MORPHOMETRY_KEYS: tuple[str, ...] = (
    "neuron_name", "surface", "volume", "soma_Surface", "n_stems", "n_bifs", "n_branch",
    "width", "height", "depth", "diameter", "eucDistance", "pathDistance", "branch_Order",
    "contraction", "fragmentation", "partition_asymmetry", "pk_classic", "bif_ampl_local",
    "fractal_Dim", "neuron_id", "bif_ampl_remote", "length",
)  # fmt: skip

#: Persistence-vector keys (reference §4.6; ``scaling_factor`` is a guess).
PVEC_KEYS: tuple[str, ...] = ("neuron_id", "scaling_factor", "distance", "coefficients")

#: Literature keys (reference §2.2).
LITERATURE_KEYS: tuple[str, ...] = (
    "article_id", "pmid", "doi", "journal", "title", "authors", "species", "brainRegion",
    "cellType", "tracingSystem", "evaluatedDate", "publishedDate", "globalStatus",
    "collection", "dataUsage", "sharedReconstructions", "status", "nReconstructions",
)  # fmt: skip

_HOST = "http://neuromorpho.org"

_CNIC_001: dict[str, Any] = {
    "neuron_id": 1,
    "neuron_name": "cnic_001",
    "archive": "Wearne_Hof",
    "note": (
        "When originally released, this reconstruction had been incompletely processed, "
        "and this issue was fixed in release 6.1 (May 2015). The pre-6.1 version of the "
        'processed file is available for download <a href=" dableFiles/previous/v6.1/'
        'wearne_hof/cnic_001.CNG.swc ">here</a>.'
    ),
    "age_scale": "Year",
    "gender": "Male/Female",
    "age_classification": "old",
    "brain_region": ["neocortex", "prefrontal", "layer 3"],
    "cell_type": ["Local projecting", "pyramidal", "principal cell"],
    "species": "monkey",
    "strain": "Rhesus",
    "scientific_name": "Macaca mulatta",
    "stain": "lucifer yellow",
    "experiment_condition": ["Control"],
    "protocol": "in vivo",
    "slicing_direction": "custom",
    "reconstruction_software": "Neurozoom",
    "objective_type": "Not reported",
    "original_format": "Neurozoom.swc",
    "domain": "Dendrites, Soma, No Axon",
    "attributes": "Diameter, 3D, Angles",
    "magnification": "100",
    "upload_date": "2006-08-01",
    "deposition_date": "2005-12-31",
    "shrinkage_reported": "Reported",
    "shrinkage_corrected": "Not Corrected",
    "reported_value": None,
    "reported_xy": None,
    "reported_z": None,
    "corrected_value": None,
    "corrected_xy": None,
    "corrected_z": None,
    "soma_surface": "834.0",
    "surface": "8842.91",
    "volume": "4725.89",
    "slicing_thickness": "400",
    "min_age": "24.0",
    "max_age": "25.0",
    "min_weight": "4500.0",
    "max_weight": "10000.0",
    "png_url": "http://neuromorpho.org/images/imageFiles/Wearne_Hof/cnic_001.png",
    "reference_pmid": ["12204204", "12902394"],
    "reference_doi": ["10.1016/S0306-4522(02)00305-6", "10.1093/cercor/13.9.950"],
    "physical_Integrity": "Dendrites Moderate",
}

# species -> (strains, scientific name, age scale)
_SPECIES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "rat": (("Sprague-Dawley", "Wistar", "Long-Evans", "F344", "Wistar Han"),
            "Rattus norvegicus", "Day"),
    "mouse": (("C57BL/6", "C57BL/6J", "Pvalb-IRES-Cre", "Sst-IRES-Cre", "Thy1-YFP-H", "CD-1"),
              "Mus musculus", "Day"),
    "human": (("Not applicable",), "Homo sapiens", "Year"),
    "monkey": (("Rhesus", "Cynomolgus"), "Macaca mulatta", "Year"),
    "drosophila melanogaster": (("Canton-S", "Oregon-R", "w1118"),
                                "Drosophila melanogaster", "Day"),
    "zebrafish": (("AB", "Tupfel long fin", "nacre"), "Danio rerio", "Day"),
    "cat": (("Not reported",), "Felis catus", "Month"),
    "dragonfly ": (("Not reported",), "Libellula luctuosa", "Not Reported"),
    "elephant": (("African",), "Loxodonta africana", "Year"),
    "chimpanzee": (("Western ", "Central"), "Pan troglodytes", "Year"),
    "giraffe": (("Not reported",), "Giraffa camelopardalis", "Year"),
    "humpback whale": (("Not reported",), "Megaptera novaeangliae", "Year"),
}  # fmt: skip

_PYR = (("pyramidal", "principal cell"), ("Local projecting", "pyramidal", "principal cell"))
_INT = (
    ("basket", "interneuron"), ("Martinotti", "interneuron"), ("fast-spiking", "interneuron"),
    ("chandelier", "interneuron"),
)  # fmt: skip


@dataclass(frozen=True)
class _Archive:
    name: str
    count: int  # neurons at the default n_neurons=3000
    species: tuple[tuple[str, float], ...]
    regions: tuple[tuple[str, ...], ...]
    cell_types: tuple[tuple[str, ...], ...]
    naming: str
    domain: str = ""  # "" = drawn from the pool
    size_factor: float = 1.0
    floor: int = 1  # never fewer neurons than this (when n_neurons allows)


_ARCHIVES: tuple[_Archive, ...] = (
    _Archive("Wearne_Hof", 120, (("monkey", 1.0),),
             (("neocortex", "prefrontal", "layer 3"), ("neocortex", "prefrontal", "layer 2-3")),
             _PYR, "cnic", domain="Dendrites, Soma, No Axon"),
    _Archive("Gonzalez-Burgos", 1, (("monkey", 1.0),),
             (("neocortex", "prefrontal", "layer 3"),), _INT, "gb"),
    _Archive("Jacobs", 499,
             (("human", 0.6), ("elephant", 0.1), ("chimpanzee", 0.1), ("giraffe", 0.1),
              ("humpback whale", 0.1)),
             (("neocortex", "occipital", "layer 2-3"), ("neocortex", "frontal", "layer 3"),
              ("cerebellum", "cerebellar cortex")),
             (("pyramidal", "principal cell"), ("stellate", "interneuron"),
              ("Purkinje", "principal cell"), ("granule", "principal cell")), "jacobs"),
    _Archive("Allen Cell Types", 500, (("mouse", 0.7), ("human", 0.3)),
             (("neocortex", "primary visual", "layer 5"),
              ("neocortex", "somatosensory", "layer 5"),
              ("neocortex", "middle temporal gyrus", "layer 3"),
              ("neocortex", "frontal", "layer 2-3")),
             (*_PYR, *_INT, ("spiny", "principal cell"), ("aspiny", "interneuron")), "allen"),
    _Archive("Markram", 501, (("rat", 1.0),),
             (("neocortex", "somatosensory", "layer 5"),
              ("neocortex", "somatosensory", "layer 2-3"),
              ("neocortex", "somatosensory", "layer 4"),
              ("neocortex", "somatosensory", "layer 6")),
             (*_PYR, *_INT, ("spiny stellate", "principal cell")), "markram", size_factor=1.5),
    _Archive("Tsai", 60, (("mouse", 1.0),),
             (("hippocampus", "CA1", "stratum radiatum"), ("hippocampus", "dentate gyrus")),
             (("microglia", "glia"),), "tsai", domain="Dendrites, No Soma, No Axon",
             size_factor=0.4, floor=15),
    _Archive("Chklovskii", 250, (("drosophila melanogaster", 1.0),),
             (("optic lobe", "medulla"), ("optic lobe", "lamina"), ("optic lobe", "lobula")),
             (("medulla intrinsic", "Mi1", "interneuron"),
              ("transmedullary", "Tm3", "projection"),
              ("lamina monopolar", "L1", "principal cell")), "chklovskii",
             domain="Dendrites, No Soma, Axon", size_factor=0.6),
    _Archive("MouseLight", 150, (("mouse", 1.0),),
             (("thalamus", "ventral posteromedial nucleus"), ("neocortex", "motor", "layer 5"),
              ("hippocampus", "subiculum"), ("striatum",)),
             (("projection", "principal cell"), *_PYR), "mouselight",
             domain="Dendrites, Soma, Axon", size_factor=3.0),
    _Archive("Smith", 80, (("rat", 1.0),), (("spinal cord", "ventral horn"),),
             (("motoneuron", "principal cell"),), "smith"),
    _Archive("Baier", 100, (("zebrafish", 1.0),),
             (("optic tectum", "stratum periventriculare"), ("hindbrain", "rhombomere 5")),
             (("periventricular", "interneuron"), ("projection", "principal cell")), "baier"),
    _Archive("Kisvarday", 90, (("cat", 1.0),),
             (("neocortex", "primary visual", "layer 3"), ("neocortex", "primary visual", "layer 4")),
             (*_INT, ("spiny stellate", "principal cell")), "kisvarday"),
    _Archive("Gonzalez-Bellido", 20, (("dragonfly ", 1.0),),
             (("ventral nerve cord", "thoracic ganglion"), ("brain", "lobula")),
             (("target-selective descending", "projection"),), "bellido"),
    _Archive("Claiborne", 100, (("rat", 1.0),), (("hippocampus", "dentate gyrus", "granule layer"),),
             (("granule", "principal cell"),), "claiborne"),
    _Archive("Turner", 100, (("rat", 1.0),),
             (("hippocampus", "CA1", "principal cell layer"),
              ("hippocampus", "CA3", "principal cell layer")), _PYR, "turner"),
    _Archive("Amaral", 80, (("rat", 1.0),),
             (("entorhinal cortex", "layer 2"), ("entorhinal cortex", "layer 3"),
              ("hippocampus", "CA3")),
             (("stellate", "principal cell"), *_PYR), "amaral"),
    _Archive("De Koninck", 60, (("rat", 1.0),), (("spinal cord", "dorsal horn", "lamina I"),),
             (("projection", "principal cell"),), "dekoninck"),
    _Archive("Barrionuevo", 150, (("rat", 1.0),),
             (("entorhinal cortex", "layer 5"), ("hippocampus", "CA3", "principal cell layer"),
              ("piriform cortex",)), (*_PYR, *_INT), "barrionuevo"),
    _Archive("Kubota.Y", 70, (("rat", 1.0),),
             (("neocortex", "frontal", "layer 2-3"), ("neocortex", "frontal", "layer 5")),
             _INT, "kubota"),
    # Absorbs the rounding when n_neurons is not 3000.
    _Archive("Svoboda", 69, (("mouse", 1.0),),
             (("neocortex", "barrel cortex", "layer 2-3"),
              ("neocortex", "somatosensory", "layer 5")), (*_PYR, *_INT), "svoboda"),
)  # fmt: skip

_STAINS = (
    "biocytin",
    "lucifer yellow",
    "Golgi",
    "GFP",
    "neurobiotin",
    "horseradish peroxidase",
    "Not reported",
)
_SOFTWARE_FORMAT = (
    ("Neurolucida", "Neurolucida.asc"),
    ("Neurolucida", "Neurolucida.dat"),
    ("Neurozoom", "Neurozoom.swc"),
    ("Vaa3D", "Vaa3D.swc"),
    ("Imaris", "Imaris.swc"),
    ("Simple Neurite Tracer", "SNT.traces"),
    ("Custom", "Custom.xml"),
    ("Knossos", "Knossos.nml"),
)
_PROTOCOLS = ("in vivo", "in vitro", "ex vivo", "culture", "Not reported")
_SLICING = ("coronal", "sagittal", "horizontal", "custom", "Not reported", "Not applicable")
_OBJECTIVES = ("oil", "water", "dry", "Not reported")
_MAGNIFICATIONS = ("100", "60", "63", "40", "20", "Not reported")
_THICKNESS = ("400", "300", "350", "200", "100", "50.0", "Not reported", "Not applicable")
_DOMAINS = ("Dendrites, Soma, No Axon", "Dendrites, Soma, Axon", "No Dendrites, Soma, Axon")
_ATTRIBUTES = ("Diameter, 3D, Angles", "No Diameter, 2D, Angles", "Diameter, 3D, No Angles")
_INTEGRITY = (
    "Dendrites Moderate",
    "Dendrites Complete",
    "Dendrites & Axon Complete",
    "Dendrites Incomplete",
    "Axon Incomplete",
    "Dendrites & Axon Moderate",
)
_GENDERS = ("Male", "Female", "Male/Female", "Not reported")
_CONDITIONS = (
    ("Control",),
    ("Control",),
    ("Control",),
    ("Transgenic",),
    ("Aged",),
    ("Control", "Sham"),
    ("Disease: Alzheimer's",),
)
_NOTES = (
    "Neurons were reconstructed from 3 animals.",
    "Axon not fully reconstructed; see original publication.",
    "Soma reconstructed as a single contour.",
    "Reconstruction includes the dendritic spines only partially.",
)
_JOURNALS = (
    "J Comp Neurol",
    "Cereb Cortex",
    "J Neurosci",
    "Neuron",
    "Nature",
    "eLife",
    "PLoS Comput Biol",
    "Brain Struct Funct",
    "Front Neuroanat",
    "Neuroscience",
)

_SWC_MEDIAN = 80_000
_SWC_SIGMA = 1.2  # p90 = median * exp(1.2816 * sigma) ~ 370 KB before archive factors
_SWC_CAP = 5_000_000


def _allocate(n: int) -> list[tuple[_Archive, int]]:
    """Archive sizes summing to ``n``: exact plan at 3000, proportional otherwise."""
    if n == 3000:
        return [(a, a.count) for a in _ARCHIVES]
    counts = [max(a.floor, 1, round(a.count * n / 3000)) for a in _ARCHIVES]
    filler = len(_ARCHIVES) - 1
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
                return [(_ARCHIVES[0], n)]
            counts[alive[-1]] = 0
        counts[filler] += 1
    return [(a, c) for a, c in zip(_ARCHIVES, counts) if c > 0]


def _fmt_float(x: float, digits: int = 2) -> str:
    """Java-like ``Double.toString`` text of a rounded value ("834.0", "8842.91")."""
    return repr(round(x, digits))


def _names(kind: str, i: int, rng: random.Random, species: str) -> str:
    """The ``i``-th (1-based) neuron name of an archive; unique within the archive by ``i``."""
    r = rng.randrange
    if kind == "cnic":
        return f"cnic_{i:03d}"
    if kind == "gb":
        return f"GB-pfc.L3-{i:02d}"
    if kind == "jacobs":
        abbr = {
            "human": "Hum",
            "elephant": "eleph",
            "chimpanzee": "chimp",
            "giraffe": "giraffe",
            "humpback whale": "whale",
        }[species]
        return f"{abbr}-{r(1, 20)}-{i}.{r(1, 5)}"
    if kind == "allen":
        if species == "human":
            return (
                f"H{r(15, 20)}-{r(1, 99):02d}-{i:03d}-01-{r(1, 20):02d}-{r(1, 20):02d}"
                f"_{559391000 + i * 7}_m"
            )
        line = ("Pvalb", "Sst", "Vip", "Rorb", "Cux2")[r(5)]
        return (
            f"{line}-IRES-Cre_Ai14-{160000 + i:06d}.{r(1, 9):02d}.{r(1, 9):02d}.01"
            f"_{480000000 + i * 13}_m"
        )
    if kind == "markram":
        style = r(3)
        if style == 0:
            return f"C{10000 + i:06d}{'ABCD'[r(4)]}-P{r(1, 5)}"
        if style == 1:
            return f"tkb{60000 + i}a{r(1, 4)}_ch{r(1, 8)}_cc2_h_zk_60x_1"
        return f"dend-C{20000 + i:06d}A-P3_axon-C{30000 + i:06d}A-P3_-_Clone_{r(1, 9)}"
    if kind == "tsai":
        # The first 15 form the tutorial's CB_CKp25_2w_F_Animal01_* family; the others
        # never start with that prefix.
        if i <= 15:
            return f"CB_CKp25_2w_F_Animal01_{i:02d}"
        k = i - 15
        cond = ("CKp25", "Ctrl")[k % 2]
        weeks = (2, 6)[(k // 2) % 2]
        sex = ("F", "M")[(k // 4) % 2]
        animal = 2 + (k // 8) % 8
        return f"CB_{cond}_{weeks}w_{sex}_Animal{animal:02d}_{k:03d}"
    if kind == "chklovskii":
        base = ("Mi1", "Tm3", "L1", "L2+L3", "T4", "Tm20(a)", "Mi4.b")[r(7)]
        return f"{base}-{i}"
    if kind == "mouselight":
        return f"AA{i:04d}"
    if kind == "smith":
        return f"{(i - 1) // 10}-{i % 10 if i % 10 else 10}"
    if kind == "baier":
        return f"fish{r(1, 40):02d}_cell{i:04d}"
    if kind == "kisvarday":
        return f"cat{i:03d}-L{r(2, 5)}"
    if kind == "bellido":
        return f"TSDN-{i:02d}"
    if kind == "claiborne":
        return f"{i:04d}{'abc'[r(3)]}"
    if kind == "turner":
        return f"n{400 + i}"
    if kind == "amaral":
        return f"c{10000 + i * 3}.ec"
    if kind == "dekoninck":
        return f"LI-NK1r-{i:03d}"
    if kind == "barrionuevo":
        return f"BE{i:03d}-{r(1, 6)}"
    if kind == "kubota":
        return f"cell{i}.{r(1, 4)}-{'abcd'[r(4)]}"
    return f"2013{r(1, 13):02d}{r(1, 29):02d}_cell{i:03d}"


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


def _png_bytes() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


_PNG = _png_bytes()

_SWC_FORMATS = (
    (0.60, "%d %d %.4f %.4f %.4f %.4f %d"),
    (0.15, "%6d %2d %10.4f %10.4f %10.4f %8.4f %6d"),
    (0.10, " %d %d %.4f %.4f %.4f %.4f %d"),
    (0.10, "%d\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%d"),
    (0.05, "%d  %d  %.4f  %.4f  %.4f  %.4f  %d"),
)

# ---------------------------------------------------------------------- SWC morphology
#
# Synthetic reconstructions are grown like real neurons: a three-point soma at the origin,
# 3-10 primary neurites (a Purkinje cell: 2-3 dendrites and the axon) leaving it in
# well-spread directions, each a binary tree whose branch segments are persistent random
# walks (1-5 um steps, small angular noise). The tree is sized by *length*: every subtree
# gets a length budget that its first segment spends in part before the rest is split
# between two daughters (or, when little is left, the segment ends there). The total cable
# length is therefore fixed in advance (points x step), which is how a file fills its byte
# budget with more branches rather than with one long line; the step is re-aimed at every
# branch so that the points left cover the cable left. Segment lengths shrink with branch
# order and radii follow Rall's 3/2 rule on the budget split. Only
# ``random.random``, arithmetic and ``math.sqrt`` (correctly rounded under IEEE 754) shape the
# geometry, so the bodies do not depend on the platform's maths library.


@dataclass(frozen=True)
class _Shape:
    """Growth parameters of one family of cell shapes (lengths in um at the reference size)."""

    stems: tuple[int, int]  # primary dendrites, inclusive range
    radius: float  # primary dendrite radius
    seg: float  # order-0 segment length
    decay: float  # segment length factor per branch order
    split: float  # daughters get f and 1 - f of the budget, f in [split, 1 - split]
    spread: float  # tangent of a daughter's angle to the parent (balanced split)
    noise: float  # angular noise per sqrt(um)
    pull: float  # relaxation towards the segment's heading, per um
    step: tuple[float, float]  # nominal step range
    up: float = 0.0  # daughters lean upwards (+y) by this much
    planar: bool = False  # branch in the x-y plane only (Purkinje fan)


_SHAPES = {
    # apical (type 4) trunk with obliques and a tuft, basal dendrites around and below
    "pyramidal": _Shape((4, 8), 1.0, 40.0, 0.88, 0.2, 0.75, 0.11, 0.06, (1.5, 3.0)),
    # multipolar, stems evenly around the soma
    "radial": _Shape((4, 9), 1.1, 38.0, 0.88, 0.2, 0.8, 0.11, 0.06, (1.5, 3.0)),
    # a few thick primary dendrites fanning out upwards in one plane, dense short branches
    "purkinje": _Shape((2, 3), 2.2, 30.0, 0.92, 0.3, 0.9, 0.12, 0.07, (1.0, 2.0), 0.5, True),
    # dendrites in a cone above the soma
    "granule": _Shape((3, 5), 0.8, 45.0, 0.9, 0.25, 0.45, 0.09, 0.06, (1.5, 3.0), 0.5),
    # small and bushy: many short thin processes
    "glia": _Shape((7, 10), 0.6, 13.0, 0.88, 0.2, 0.9, 0.3, 0.12, (1.0, 1.5)),
}
_REFERENCE_CABLE = 5000.0  # um: cells of this total length use the lengths above as they are


def _shape_family(cell_types: Sequence[str]) -> str:
    words = " ".join(cell_types).lower()
    for key, family in (
        ("purkinje", "purkinje"),
        ("glia", "glia"),
        ("pyramidal", "pyramidal"),
        ("granule", "granule"),
    ):
        if key in words:
            return family
    return "radial"


def _unit(x: float, y: float, z: float) -> tuple[float, float, float]:
    n = math.sqrt(x * x + y * y + z * z)
    if n < 1e-9:
        return 0.0, 1.0, 0.0
    return x / n, y / n, z / n


def _random_unit(rnd: Callable[[], float], flat: float) -> tuple[float, float, float]:
    """A direction uniform on the sphere, then squashed in z by ``flat`` (slices are thin)."""
    while True:
        x, y, z = 2 * rnd() - 1, 2 * rnd() - 1, 2 * rnd() - 1
        n = x * x + y * y + z * z
        if 0.01 < n <= 1:
            return _unit(x, y, z * flat)


def _rall(f: float) -> float:
    """``f ** (2/3)`` for 0 < f <= 1 by Newton's method (no libm): a daughter carrying the
    share ``f`` of the arbor gets this share of the parent's radius, so that the radii keep
    Rall's rule r**1.5 = r1**1.5 + r2**1.5."""
    a = f * f
    y = 1.0
    while True:  # from above, Newton's steps for the cube root decrease monotonically
        nxt = y - (y * y * y - a) / (3 * y * y)
        if nxt >= y:
            return y
        y = nxt


def _spread_out(
    taken: list[tuple[float, float, float]],
    draw: Callable[[], tuple[float, float, float]],
    tries: int = 8,
) -> tuple[float, float, float]:
    """Best of ``tries`` candidates from ``draw()``: the one farthest from every ``taken``."""
    best, best_gap = (0.0, 1.0, 0.0), -9.0
    for _ in range(tries):
        cand = draw()
        gap = min((-(cand[0] * t[0] + cand[1] * t[1] + cand[2] * t[2]) for t in taken), default=0)
        if gap > best_gap:
            best, best_gap = cand, gap
    taken.append(best)
    return best


_DENDRITE, _TRUNK, _AXON = 0, 1, 2  # branch modes: plain bifurcation, apical trunk, main axon
_Stem = tuple[int, tuple[float, float, float], float, float, int]  # type, dir, weight, r, mode


def _stems(
    family: str, shape: _Shape, dendrites: bool, axon: bool, rnd: Callable[[], float]
) -> list[_Stem]:
    """The primary neurites of a cell: type, direction, share of the cable, radius, mode."""
    stems: list[_Stem] = []
    taken: list[tuple[float, float, float]] = []

    def jitter(k: float) -> float:
        return 1 + k * (rnd() - 0.5)

    down = family in ("pyramidal", "purkinje", "granule")  # the axon leaves downwards
    if axon and down:
        taken.append(_unit(0.4 * (rnd() - 0.5), -1.0, 0.2 * (rnd() - 0.5)))
    if dendrites:
        lo, hi = shape.stems
        n = lo + int(rnd() * (hi - lo + 1))
        draw: Callable[[], tuple[float, float, float]]
        if family == "pyramidal":
            apical = _unit(0.3 * (rnd() - 0.5), 1.0, 0.2 * (rnd() - 0.5))
            taken.append(apical)

            def draw() -> tuple[float, float, float]:
                x, y, z = _random_unit(rnd, 0.5)
                return x, (-y if y > 0.2 else y), z  # basal dendrites: around and below

        elif family == "purkinje":

            def draw() -> tuple[float, float, float]:
                return _unit(1.6 * (rnd() - 0.5), 1.0, 0.05 * (rnd() - 0.5))

        elif family == "granule":

            def draw() -> tuple[float, float, float]:
                return _unit(1.2 * (rnd() - 0.5), 1.0, 0.6 * (rnd() - 0.5))

        else:

            def draw() -> tuple[float, float, float]:
                return _random_unit(rnd, 0.5)

        for _ in range(n):
            direction = _spread_out(taken, draw)
            stems.append((3, direction, jitter(1.0), shape.radius * jitter(0.4), _DENDRITE))
        if family == "pyramidal":
            share = sum(s[2] for s in stems) * (0.7 + 0.5 * rnd())
            stems.insert(0, (4, apical, share, 2.0 * jitter(0.4), _TRUNK))
    if axon:
        direction = taken[0] if down else _spread_out(taken, lambda: _random_unit(rnd, 0.5))
        if stems:
            # the axon's share of the cable
            a = 0.1 + 0.1 * rnd() if family in ("purkinje", "granule") else 0.2 + 0.25 * rnd()
            share = sum(s[2] for s in stems) * a / (1 - a)
        else:
            share = 1.0
        stems.append((2, direction, share, 0.5 * jitter(0.4), _AXON))
    return stems


def _grow_neuron(
    lines: list[str],
    fmt: str,
    n_nodes: int,
    budget: int,
    rec: Mapping[str, Any],
    rng: random.Random,
) -> None:
    """Append the node lines of a synthetic neuron: ``n_nodes`` lines or ``budget`` bytes."""
    rnd = rng.random
    sqrt = math.sqrt
    out = lines.append
    domain = str(rec["domain"])
    family = _shape_family(rec["cell_type"])
    shape = _SHAPES[family]
    has_soma = "No Soma" not in domain
    axon = "Axon" in domain and "No Axon" not in domain
    dendrites = "No Dendrites" not in domain or not axon

    # Points to write, then cable to grow: points x a nominal step.
    step_lo, step_hi = shape.step
    step = step_lo + (step_hi - step_lo) * rnd()
    n_est = min(n_nodes, budget // 40)
    line_len = 40
    for _ in range(2):
        k = max(1, n_est // 2)
        line_len = len(fmt % (k, 3, -123.4567, 234.5678, -34.5678, 0.5678, k)) + 1
        n_est = min(n_nodes, budget // line_len)
    cable = max(n_est - 3, 8) * step
    c = cable / _REFERENCE_CABLE
    scale = min(5.0, max(0.2, sqrt(sqrt(sqrt(c * c * c)))))  # c ** (3/8): bigger, not longer
    seg = shape.seg * scale
    decays = [1.0]
    while decays[-1] > 0.35:
        decays.append(decays[-1] * shape.decay)
    planar = shape.planar
    up = shape.up
    arbor = 0.0 if dendrites else 0.3  # an axon-only reconstruction is a bushy arbor

    stems = _stems(family, shape, dendrites, axon, rnd)
    total = sum(s[2] for s in stems)
    used = 0
    if has_soma:
        soma = rec["soma_surface"]
        r = sqrt(float(soma) / (4 * math.pi)) if soma else 5.0
        for line in (
            fmt % (1, 1, 0.0, 0.0, 0.0, r, -1),
            fmt % (2, 1, 0.0, -r, 0.0, r, 1),
            fmt % (3, 1, 0.0, r, 0.0, r, 1),
        ):
            out(line)
            used += len(line) + 1
        next_id = 4
        start = r
    else:
        line = fmt % (1, stems[0][0], 0.0, 0.0, 0.0, max(s[3] for s in stems), -1)
        out(line)
        used += len(line) + 1
        next_id = 2
        start = 0.0
    first_id, first_used = next_id, used

    # (parent, x, y, z, dx, dy, dz, hx, hy, hz, radius, type, cable, order, mode, count)
    stack: list[tuple[int, float, float, float, float, float, float, float, float, float,
                      float, int, float, int, int, int]] = []  # fmt: skip
    for kind, (hx, hy, hz), weight, radius, mode in reversed(stems):
        count = 4 + int(rnd() * 5) if mode == _TRUNK else 0
        stack.append(
            (1, hx * start, hy * start, hz * start, hx, hy, hz, hx, hy, hz,
             radius, kind, cable * weight / total, 0, mode, count)
        )  # fmt: skip
    left = cable
    x = y = z = dx = dy = dz = kx = ky = kz = sig = sigz = r = dr = st = r_min = 0.0
    parent = kind = 1
    while True:
        if stack:
            (parent, x, y, z, dx, dy, dz, hx, hy, hz, radius, kind, length, order, mode,
             count) = stack.pop()  # fmt: skip
            if mode == _TRUNK:
                ell = 1.2 * seg * (0.6 + 0.8 * rnd())
            elif mode == _AXON:
                ell = 2.0 * seg * (0.6 + 0.8 * rnd())
            else:
                fac = decays[order] if order < len(decays) else decays[-1]
                ell = (2.0 if kind == 2 else 1.0) * seg * fac * (0.5 + rnd())
            terminal = length < ell * (1.5 + rnd())
            if terminal:
                ell = length
            # Step so that the points left cover the cable left.
            todo = n_nodes - next_id + 1
            if next_id - first_id > 20:
                todo = min(todo, int((budget - used) * (next_id - first_id) / (used - first_used)))
            else:
                todo = min(todo, (budget - used) // line_len)
            st = min(5.0, max(1.0, left / max(todo, 1)))
            left -= ell
            npts = max(1, int(ell / st + 0.5))
            st = min(5.0, max(1.0, ell / npts))
            # The walk's direction has length st: noise (per sqrt(um)) and the pull back to
            # the heading (per um) scale with it; uniform draws are centred by the offsets.
            sig = shape.noise * sqrt(st) * st * (0.6 if kind == 2 else 1.0)
            sigz = sig * (0.1 if planar else 0.5)
            pull = min(0.8, shape.pull * st * (2.0 if mode == _AXON else 1.0)) * st
            kx = hx * pull - 0.5 * sig
            ky = hy * pull - 0.5 * sig
            kz = hz * pull - 0.5 * sigz
            dx, dy, dz = dx * st, dy * st, dz * st
            r = radius
            taper = 1.0 if mode == _AXON else 0.95 if kind == 2 or mode == _TRUNK else 0.88
            r_min = 0.15 if kind == 2 else 0.2
            r_end = min(radius, max(r_min, radius * taper))
            dr = (radius - r_end) / npts
        else:  # the cable is spent but lines are left (rounding): the last tip grows on
            npts, terminal, dr = 1 << 40, True, 0.0
        for nid in range(next_id, next_id + min(npts, n_nodes - next_id + 1)):
            dx += rnd() * sig + kx
            dy += rnd() * sig + ky
            dz += rnd() * sigz + kz
            inv = st / sqrt(dx * dx + dy * dy + dz * dz)
            dx *= inv
            dy *= inv
            dz *= inv
            x += dx
            y += dy
            z += dz
            r -= dr
            line = fmt % (nid, kind, x, y, z, r, parent)
            out(line)
            used += len(line) + 1
            if used >= budget:
                return
            parent = nid
        next_id = parent + 1
        if next_id > n_nodes:
            return
        if terminal:
            continue
        # Bifurcate: the walk's direction, nudged away from the soma (and flatter in z, as in
        # a slice), tilted both ways.
        dx, dy, dz = dx / st, dy / st, dz / st
        dist = sqrt(x * x + y * y + z * z) + 1e-9
        bx, by, bz = _unit(
            dx + 0.4 * x / dist, dy + 0.4 * y / dist + up, 0.6 * (dz + 0.4 * z / dist)
        )
        if planar:
            px, py, pz = _unit(-by, bx, 0.0)
        else:
            vx, vy, vz = rnd() - 0.5, rnd() - 0.5, 0.5 * (rnd() - 0.5)
            dot = vx * bx + vy * by + vz * bz
            px, py, pz = _unit(vx - dot * bx, vy - dot * by, vz - dot * bz)
        rest = length - ell
        if mode == _DENDRITE:
            f = shape.split + (1 - 2 * shape.split) * rnd()
            t = shape.spread * (0.6 + 0.8 * rnd())
            for share, tilt in ((1 - f, -2 * t * f), (f, 2 * t * (1 - f))):
                hx, hy, hz = _unit(bx + tilt * px, by + tilt * py, bz + tilt * pz)
                stack.append(
                    (parent, x, y, z, hx, hy, hz, hx, hy, hz, max(r_min, r * _rall(share)),
                     kind, rest * share, order + 1, _DENDRITE, 0)
                )  # fmt: skip
            continue
        # Trunk or axon: a side branch, then the main line carries on along its own heading.
        f = (0.1 + 0.15 * rnd()) if mode == _TRUNK else (0.15 + arbor + 0.25 * rnd())
        tilt = (1.2 + 1.3 * rnd()) if mode == _TRUNK else (1.5 + 2.0 * rnd())
        sx, sy, sz = _unit(bx + tilt * px, by + tilt * py, bz + tilt * pz)
        side_r = max(r_min, r * (_rall(f) if mode == _TRUNK else 0.7))
        if mode == _AXON:
            hx, hy, hz = _unit(
                hx + 0.3 * (rnd() - 0.5), hy + 0.3 * (rnd() - 0.5), hz + 0.15 * (rnd() - 0.5)
            )
            main = (parent, x, y, z, dx, dy, dz, hx, hy, hz, r, kind, rest * (1 - f), 0, _AXON, 0)
        else:
            main_mode = _TRUNK if count > 1 else _DENDRITE
            main = (parent, x, y, z, dx, dy, dz, hx, hy, hz, r * _rall(1 - f), kind,
                    rest * (1 - f), 0, main_mode, count - 1)  # fmt: skip
        stack.append(main)
        stack.append(
            (parent, x, y, z, sx, sy, sz, sx, sy, sz, side_r, kind, rest * f, 1, _DENDRITE, 0)
        )


def _element(key: str, i: int) -> Getter:
    def get(rec: Mapping[str, Any]) -> Any:
        value = rec.get(key)
        if isinstance(value, list) and len(value) > i:
            return value[i]
        return None

    return get


def _getters(keys: Sequence[str]) -> dict[str, Getter]:
    return {k: itemgetter(k) for k in keys}


class SyntheticDatabase:
    """A deterministic, seeded stand-in for the NeuroMorpho.Org database.

    ``neurons`` holds every record exactly as served, ordered by ``neuron_id`` (int);
    treat records as read-only (the app caches their JSON).
    """

    def __init__(self, n_neurons: int = 3000, *, seed: int = 0) -> None:
        if n_neurons < 1:
            raise ValueError("n_neurons must be at least 1")
        self.n_neurons = n_neurons
        self.seed = seed
        self._swc_cache: OrderedDict[int, bytes | None] = OrderedDict()
        self._lock = threading.RLock()
        self._morph: list[dict[str, Any]] | None = None
        self._pvec: list[dict[str, Any]] | None = None
        self._morph_index: Collection | None = None
        self._pvec_index: Collection | None = None
        self._morph_by_id: dict[int, dict[str, Any]] = {}
        self._pvec_by_id: dict[int, dict[str, Any]] = {}
        self._morph_by_name: dict[str, dict[str, Any]] = {}
        self._build_neurons(random.Random(seed))
        self._pick_ground_truth(random.Random(f"{seed}:faults"))
        self.literature: list[dict[str, Any]] = self._build_literature(
            random.Random(f"{seed}:literature")
        )
        self._lit_by_id = {a["article_id"]: a for a in self.literature}

        fields = _getters(NEURON_KEYS)
        for k in range(3):
            fields[f"brain_region_{k + 1}"] = _element("brain_region", k)
            fields[f"cell_type_{k + 1}"] = _element("cell_type", k)
        fields["Physical_Integrity"] = itemgetter("physical_Integrity")
        self._by_text = sorted(self.neurons, key=lambda r: str(r["neuron_id"]))
        #: Query engine over the neurons, in the server's default (string-id) order.
        self.neuron_index = Collection(self._by_text, fields)
        self.literature_index = Collection(self.literature, _getters(LITERATURE_KEYS))

    # ------------------------------------------------------------------ build

    def _build_neurons(self, rng: random.Random) -> None:
        plan = _allocate(self.n_neurons)
        # Releases add archives in batches; split the bigger ones in two and shuffle,
        # keeping Wearne_Hof's first block (neuron 1) in front.
        blocks: list[tuple[_Archive, int]] = []
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
        self._swc_target: dict[int, int] = {}
        no_morph: set[int] = set()
        nid = 0
        day = datetime.date(2006, 1, 1).toordinal()
        for arch, count in blocks:
            lab = labs.get(arch.name)
            day += rng.randrange(20, 400)
            if lab is None:
                lab = self._lab(arch, rng, datetime.date.fromordinal(day))
                if arch.name == "Wearne_Hof":
                    lab = dataclasses.replace(
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
                    rec = dict(_CNIC_001)
                else:
                    rec = self._neuron(
                        nid, i, arch, lab, upload, rng, papers[arch.name], used_pmids
                    )
                rec["_links"] = {
                    "self": {"href": f"{_HOST}/api/neuron/id/{nid}"},
                    "measurements": {"href": f"{_HOST}/api/morphometry/id/{nid}"},
                    "persistence_vector": {"href": f"{_HOST}/api/pvec/id/{nid}"},
                }
                neurons.append(rec)
                size = rng.lognormvariate(math.log(_SWC_MEDIAN), _SWC_SIGMA) * arch.size_factor
                self._swc_target[nid] = int(min(_SWC_CAP, max(3_000.0, size)))
                if nid > 1 and rng.random() < 0.02:
                    no_morph.add(nid)
        self.neurons: list[dict[str, Any]] = neurons
        self._by_id = {r["neuron_id"]: r for r in neurons}
        self._by_name = {r["neuron_name"]: r for r in neurons}
        if len(self._by_name) != len(neurons):  # pragma: no cover - guards the name schemes
            raise AssertionError("neuron names are not unique")
        #: Neurons without morphometry or persistence vector (404 on those routes).
        self.no_morphometry_ids: frozenset[int] = frozenset(no_morph)

    @staticmethod
    def _lab(arch: _Archive, rng: random.Random, upload: datetime.date) -> _Lab:
        c = rng.choice
        software, fmt = c(_SOFTWARE_FORMAT)
        return _Lab(
            stain=c(_STAINS),
            software=software,
            fmt=fmt,
            protocol=c(_PROTOCOLS),
            slicing=c(_SLICING),
            objective=c(_OBJECTIVES),
            magnification=c(_MAGNIFICATIONS),
            thickness=c(_THICKNESS),
            domain=arch.domain or c(_DOMAINS),
            attributes=c(_ATTRIBUTES),
            integrity=c(_INTEGRITY),
            shrinkage=c(("Reported", "Not Reported", "Not Reported", "Not applicable")),
            gender=c(_GENDERS),
            age_class=c(("adult", "young", "old", "adult", "Not reported")),
            upload=upload,
        )

    def _neuron(
        self,
        nid: int,
        i: int,
        arch: _Archive,
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
        strains, sci, age_scale = _SPECIES[species]
        name = _names(arch.naming, i, rng, species)
        y = rnd()
        scientific: str | None = sci if y >= 0.04 else ("" if y < 0.02 else None)
        y = rnd()
        note: str | None = "" if y < 0.7 else (None if y < 0.9 else c(_NOTES))
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
        png = f"{_HOST}/images/imageFiles/{quote(arch.name, safe='')}/{quote(name, safe='')}.png"
        values: dict[str, Any] = {
            "neuron_id": nid,
            "neuron_name": name,
            "archive": arch.name,
            "note": note,
            "age_scale": age_scale,
            "gender": lab.gender if rnd() < 0.9 else c(_GENDERS),
            "age_classification": lab.age_class,
            "brain_region": list(c(arch.regions)),
            "cell_type": list(c(arch.cell_types)),
            "species": species,
            "strain": c(strains),
            "scientific_name": scientific,
            "stain": lab.stain,
            "experiment_condition": list(c(_CONDITIONS)),
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
            "physical_Integrity": lab.integrity if rnd() < 0.8 else c(_INTEGRITY),
        }
        return values

    def _pick_ground_truth(self, rng: random.Random) -> None:
        ids = [r["neuron_id"] for r in self.neurons if r["neuron_id"] != 1]
        taken: set[int] = set()

        def pick(k: int) -> frozenset[int]:
            out: set[int] = set()
            while ids and len(out) < min(k, len(ids) - len(taken)):
                nid = ids[rng.randrange(len(ids))]
                if nid not in taken:
                    taken.add(nid)
                    out.add(nid)
            return frozenset(out)

        n = self.n_neurons
        #: Neurons whose CNG file answers 404 (HTML body).
        self.missing_file_ids: frozenset[int] = pick(max(3, n // 600))
        #: Neurons whose CNG file body is not valid SWC.
        self.broken_file_ids: frozenset[int] = pick(max(3, n // 1000))
        latin1 = pick(2)
        bom = pick(1)
        #: Neuron id -> "latin-1" (header bytes not UTF-8) or "utf-8-sig" (BOM and CRLF).
        self.encoding_quirks: Mapping[int, str] = {
            **dict.fromkeys(sorted(latin1), "latin-1"),
            **dict.fromkeys(sorted(bom), "utf-8-sig"),
        }
        big = [r["neuron_id"] for r in self.neurons if r["archive"] == "MouseLight"]
        pool = [k for k in (big or ids) if k not in taken] or [1]
        #: One neuron whose SWC is at the 5 MB cap.
        self.large_file_id: int = pool[rng.randrange(len(pool))]
        self._swc_target[self.large_file_id] = _SWC_CAP

    def _build_literature(self, rng: random.Random) -> list[dict[str, Any]]:
        pmids: list[tuple[str, str, dict[str, Any]]] = []
        seen: set[str] = set()
        for rec in self.neurons:
            p = rec["reference_pmid"][0]
            if p not in seen:
                seen.add(p)
                pmids.append((p, rec["reference_doi"][0], rec))
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
                sp = rng.choice(tuple(_SPECIES))
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
                    "journal": rng.choice(_JOURNALS),
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
                    "_links": {"self": {"href": f"{_HOST}/api/literature/id/{article_id}"}},
                }
            )
        return articles

    # ------------------------------------------------------------------ neurons

    def neuron_by_id(self, neuron_id: int) -> dict[str, Any] | None:
        """The record with this id, or None."""
        return self._by_id.get(neuron_id)

    def neuron_by_name(self, name: str) -> dict[str, Any] | None:
        """The record with this exact name, or None."""
        return self._by_name.get(name)

    def search(
        self,
        q: str | None,
        fq: Sequence[str] = (),
        *,
        sort: str | None = None,
        clause_join: ClauseJoin = "AND",
    ) -> list[dict[str, Any]]:
        """Records matching a GET select, in the order the app serves them."""
        specs = parse_sort([sort] if sort else [])
        positions = self.neuron_index.search(q, fq, join=clause_join, sort=specs)
        return [self._by_text[p] for p in positions]

    def select_post(self, body: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        """Records matching a POST-select body (keys AND, list members OR, exact values)."""
        return [self._by_text[p] for p in self.neuron_index.select_post(body)]

    def field_values(self, field: str) -> list[str]:
        """Distinct values of a neuron field as ``/fields/{field}`` lists them."""
        return self.neuron_index.field_values(field)

    def partition(self, field: str) -> dict[str, int]:
        """Value -> neuron count as ``/partition/{field}`` reports it."""
        return self.neuron_index.partition(field)

    # ------------------------------------------------------------------ morphometry, pvec

    def _build_morphometry(self) -> None:
        morph: list[dict[str, Any]] = []
        pvec: list[dict[str, Any]] = []
        rng = random.Random(f"{self.seed}:morphometry")
        for rec in self.neuron_index.records:
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
            if nid in self.no_morphometry_ids:
                continue
            morph.append(m)
            pvec.append(p)
        self._morph, self._pvec = morph, pvec
        self._morph_by_id = {m["neuron_id"]: m for m in morph}
        self._morph_by_name = {m["neuron_name"]: m for m in morph}
        self._pvec_by_id = {p["neuron_id"]: p for p in pvec}
        mfields = _getters(MORPHOMETRY_KEYS)
        mfields["Neuron_id"] = itemgetter("neuron_id")  # the official examples' spelling
        self._morph_index = Collection(morph, mfields)
        self._pvec_index = Collection(pvec, _getters(PVEC_KEYS))

    @property
    def morphometry_index(self) -> Collection:
        """Query engine over the morphometry objects (built on first use)."""
        if self._morph_index is None:
            with self._lock:
                if self._morph_index is None:
                    self._build_morphometry()
        assert self._morph_index is not None
        return self._morph_index

    @property
    def pvec_index(self) -> Collection:
        """Query engine over the persistence vectors (built on first use)."""
        if self._pvec_index is None:
            with self._lock:
                if self._pvec_index is None:
                    self._build_morphometry()
        assert self._pvec_index is not None
        return self._pvec_index

    def morphometry(self, neuron_id: int) -> dict[str, Any] | None:
        """Morphometry of one neuron (floats, reference §4.5 key order), or None."""
        _ = self.morphometry_index
        return self._morph_by_id.get(neuron_id)

    def morphometry_by_name(self, name: str) -> dict[str, Any] | None:
        """Morphometry of the neuron with this name, or None."""
        _ = self.morphometry_index
        return self._morph_by_name.get(name)

    def pvec(self, neuron_id: int) -> dict[str, Any] | None:
        """Persistence vector of one neuron, or None."""
        _ = self.pvec_index
        return self._pvec_by_id.get(neuron_id)

    def article(self, article_id: str) -> dict[str, Any] | None:
        """The literature record with this id, or None."""
        return self._lit_by_id.get(article_id)

    # ------------------------------------------------------------------ files

    def file_path(self, record: Mapping[str, Any]) -> str:
        """URL path of the record's standardised SWC (reference §6.1)."""
        return (
            f"/dableFiles/{quote(record['archive'].lower(), safe='')}/CNG%20version/"
            f"{quote(record['neuron_name'], safe='')}.CNG.swc"
        )

    @staticmethod
    def source_extension(record: Mapping[str, Any]) -> str:
        """Extension of the Source-Version file: ``Neurolucida.dat`` -> ``dat``, ``Custom.xml`` -> ``morph.xml``."""
        fmt = str(record["original_format"])
        if fmt == "Custom.xml":
            return "morph.xml"
        return fmt.rsplit(".", 1)[-1].lower()

    def source_path(self, record: Mapping[str, Any]) -> str:
        """URL path of the record's original upload."""
        return (
            f"/dableFiles/{quote(record['archive'].lower(), safe='')}/Source-Version/"
            f"{quote(record['neuron_name'], safe='')}.{self.source_extension(record)}"
        )

    def swc(self, record: Mapping[str, Any]) -> bytes | None:
        """The CNG SWC body, or None when the file is missing (the server answers 404)."""
        nid = int(record["neuron_id"])
        if nid in self.missing_file_ids or nid not in self._by_id:
            return None
        cache = self._swc_cache
        with self._lock:  # the emulator's server is threaded
            if nid in cache:
                cache.move_to_end(nid)
                return cache[nid]
        body = self._make_swc(self._by_id[nid])
        with self._lock:
            cache[nid] = body
            if len(cache) > 8:
                cache.popitem(last=False)
        return body

    def swc_size_target(self, neuron_id: int) -> int:
        """Byte size the SWC body is generated to approach (neuron 1 has fixed 1,281 lines)."""
        return self._swc_target[neuron_id]

    def source_file(self, record: Mapping[str, Any]) -> bytes:
        """A small deterministic body for the Source-Version file."""
        ext = self.source_extension(record)
        name = str(record["neuron_name"])
        if ext == "dat":
            return b"\x04\x00NL binary\x00" + name.encode() + bytes(range(32)) * 4
        if ext.endswith("xml"):
            return (
                f'<?xml version="1.0"?>\n<morphology name="{name}">\n'
                f'  <point x="0" y="0" z="0" d="10"/>\n</morphology>\n'
            ).encode()
        if ext == "asc":
            return f'; {name}\n("CellBody"\n  (Color Red)\n  ( 0.00 0.00 0.00 10.00)\n)\n'.encode()
        return f"# original upload of {name}\n1 1 0.0 0.0 0.0 5.0 -1\n".encode()

    @staticmethod
    def std_log(record: Mapping[str, Any]) -> bytes:
        """Body of the Standardization log file."""
        return (
            f"Standardization log for {record['neuron_name']}\n"
            f"Archive: {record['archive']}\nNo irregularities fixed.\n"
        ).encode()

    @staticmethod
    def remaining_issues(record: Mapping[str, Any]) -> bytes:
        """Body of the Remaining issues file."""
        return f"Remaining issues for {record['neuron_name']}.CNG.swc\nNone.\n".encode()

    @staticmethod
    def png(record: Mapping[str, Any]) -> bytes:
        """A tiny valid PNG standing in for the neuron's image."""
        return _PNG

    def _make_swc(self, rec: Mapping[str, Any]) -> bytes:
        nid = int(rec["neuron_id"])
        rng = random.Random(f"{self.seed}:swc:{nid}")
        rnd = rng.random
        quirk = self.encoding_quirks.get(nid)
        name = rec["neuron_name"]
        fmt_ext = self.source_extension(rec)
        contributor = rec["archive"] + (" & Müller_J" if quirk == "latin-1" else "")
        unit = " (µm)" if quirk == "utf-8-sig" else ""
        lines = [
            f"# Original file {name}.{fmt_ext} edited by Duncan Donohue using StdSwc "
            f"version 1.21 on {rec['upload_date']}.",
            f"#  Irregularities and fixes documented in {name}.swc.std. "
            "See StdSwc1.21.doc for more information.",
            "#",
            f"# ORIGINAL_SOURCE {rec['reconstruction_software']}",
            f"# CREATURE {rec['species']} {rec['strain']}",
            f"# REGION {rec['brain_region'][0] if rec['brain_region'] else ''}",
            f"# FIELD/LAYER {rec['brain_region'][-1] if rec['brain_region'] else ''}",
            f"# TYPE {' '.join(rec['cell_type'])}",
            f"# CONTRIBUTOR {contributor}",
            f"# REFERENCE PMID {', '.join(rec['reference_pmid'])}",
            f"# RAW {name}.{fmt_ext}",
            "# EXTRAS",
            f"# SOMA_AREA {rec['soma_surface'] or ''}",
            "# SHRINKAGE_CORRECTION 1.0 1.0 1.0",
            "# VERSION_NUMBER 1.0",
            f"# VERSION_DATE {rec['upload_date']}",
            f"# SCALE 1.0 1.0 1.0{unit}",
        ]
        budget = self._swc_target[nid] - sum(len(x) + 1 for x in lines)
        if nid == 1:
            n_nodes = 1281 - len(lines)  # the real cnic_001.CNG.swc has 1,281 lines
            budget = 1 << 40
            fmt = _SWC_FORMATS[0][1]
        else:
            n_nodes = 1 << 40
            x = rnd()
            fmt = _SWC_FORMATS[-1][1]
            for weight, candidate in _SWC_FORMATS:
                if x < weight:
                    fmt = candidate
                    break
                x -= weight
        broken = nid in self.broken_file_ids
        if broken:
            n_nodes = 40
        _grow_neuron(lines, fmt, n_nodes, max(budget, 500), rec, rng)
        if broken:
            variant = nid % 3
            if variant == 0:
                lines.append("41 3 12.5")  # truncated mid-line
                lines.append("<<<<<<< conflict marker left in the file")
            elif variant == 1:
                lines = [ln.replace(".", ",") if not ln.startswith("#") else ln for ln in lines]
                lines.append("soma  1  x  y  z  r  -1")
            else:
                lines = [
                    "<html><head><title>500 Internal Server Error</title></head>",
                    "<body>Proxy error while reading the file</body></html>",
                ]
        eol = "\r\n" if quirk == "utf-8-sig" else "\n"
        text = eol.join(lines) + eol
        if quirk == "latin-1":
            return text.encode("latin-1")
        if quirk == "utf-8-sig":
            return text.encode("utf-8-sig")
        return text.encode("utf-8")
