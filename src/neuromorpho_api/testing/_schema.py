"""Field schemas and vocabularies of the synthetic NeuroMorpho.Org database.

Record keys in the server's order (reference §4), neuron 1 verbatim, and the archives and
value pools records are drawn from. Data only: nothing here draws random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ARCHIVES",
    "ATTRIBUTES",
    "CNIC_001",
    "CONDITIONS",
    "DOMAINS",
    "GENDERS",
    "HOST",
    "INTEGRITY",
    "JOURNALS",
    "LITERATURE_KEYS",
    "MAGNIFICATIONS",
    "MORPHOMETRY_KEYS",
    "NEURON_FIELDS",
    "NEURON_KEYS",
    "NOTES",
    "OBJECTIVES",
    "PROTOCOLS",
    "PVEC_KEYS",
    "SLICING",
    "SOFTWARE_FORMAT",
    "SPECIES",
    "STAINS",
    "THICKNESS",
    "Archive",
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

HOST = "http://neuromorpho.org"

CNIC_001: dict[str, Any] = {
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
SPECIES: dict[str, tuple[tuple[str, ...], str, str]] = {
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
class Archive:
    """One contributor's archive: its size at the default 3,000 neurons and what its cells are."""

    name: str
    count: int  # neurons at the default n_neurons=3000
    species: tuple[tuple[str, float], ...]
    regions: tuple[tuple[str, ...], ...]
    cell_types: tuple[tuple[str, ...], ...]
    naming: str
    domain: str = ""  # "" = drawn from the pool
    size_factor: float = 1.0
    floor: int = 1  # never fewer neurons than this (when n_neurons allows)


ARCHIVES: tuple[Archive, ...] = (
    Archive("Wearne_Hof", 120, (("monkey", 1.0),),
             (("neocortex", "prefrontal", "layer 3"), ("neocortex", "prefrontal", "layer 2-3")),
             _PYR, "cnic", domain="Dendrites, Soma, No Axon"),
    Archive("Gonzalez-Burgos", 1, (("monkey", 1.0),),
             (("neocortex", "prefrontal", "layer 3"),), _INT, "gb"),
    Archive("Jacobs", 499,
             (("human", 0.6), ("elephant", 0.1), ("chimpanzee", 0.1), ("giraffe", 0.1),
              ("humpback whale", 0.1)),
             (("neocortex", "occipital", "layer 2-3"), ("neocortex", "frontal", "layer 3"),
              ("cerebellum", "cerebellar cortex")),
             (("pyramidal", "principal cell"), ("stellate", "interneuron"),
              ("Purkinje", "principal cell"), ("granule", "principal cell")), "jacobs"),
    Archive("Allen Cell Types", 500, (("mouse", 0.7), ("human", 0.3)),
             (("neocortex", "primary visual", "layer 5"),
              ("neocortex", "somatosensory", "layer 5"),
              ("neocortex", "middle temporal gyrus", "layer 3"),
              ("neocortex", "frontal", "layer 2-3")),
             (*_PYR, *_INT, ("spiny", "principal cell"), ("aspiny", "interneuron")), "allen"),
    Archive("Markram", 501, (("rat", 1.0),),
             (("neocortex", "somatosensory", "layer 5"),
              ("neocortex", "somatosensory", "layer 2-3"),
              ("neocortex", "somatosensory", "layer 4"),
              ("neocortex", "somatosensory", "layer 6")),
             (*_PYR, *_INT, ("spiny stellate", "principal cell")), "markram", size_factor=1.5),
    Archive("Tsai", 60, (("mouse", 1.0),),
             (("hippocampus", "CA1", "stratum radiatum"), ("hippocampus", "dentate gyrus")),
             (("microglia", "glia"),), "tsai", domain="Dendrites, No Soma, No Axon",
             size_factor=0.4, floor=15),
    Archive("Chklovskii", 250, (("drosophila melanogaster", 1.0),),
             (("optic lobe", "medulla"), ("optic lobe", "lamina"), ("optic lobe", "lobula")),
             (("medulla intrinsic", "Mi1", "interneuron"),
              ("transmedullary", "Tm3", "projection"),
              ("lamina monopolar", "L1", "principal cell")), "chklovskii",
             domain="Dendrites, No Soma, Axon", size_factor=0.6),
    Archive("MouseLight", 150, (("mouse", 1.0),),
             (("thalamus", "ventral posteromedial nucleus"), ("neocortex", "motor", "layer 5"),
              ("hippocampus", "subiculum"), ("striatum",)),
             (("projection", "principal cell"), *_PYR), "mouselight",
             domain="Dendrites, Soma, Axon", size_factor=3.0),
    Archive("Smith", 80, (("rat", 1.0),), (("spinal cord", "ventral horn"),),
             (("motoneuron", "principal cell"),), "smith"),
    Archive("Baier", 100, (("zebrafish", 1.0),),
             (("optic tectum", "stratum periventriculare"), ("hindbrain", "rhombomere 5")),
             (("periventricular", "interneuron"), ("projection", "principal cell")), "baier"),
    Archive("Kisvarday", 90, (("cat", 1.0),),
             (("neocortex", "primary visual", "layer 3"), ("neocortex", "primary visual", "layer 4")),
             (*_INT, ("spiny stellate", "principal cell")), "kisvarday"),
    Archive("Gonzalez-Bellido", 20, (("dragonfly ", 1.0),),
             (("ventral nerve cord", "thoracic ganglion"), ("brain", "lobula")),
             (("target-selective descending", "projection"),), "bellido"),
    Archive("Claiborne", 100, (("rat", 1.0),), (("hippocampus", "dentate gyrus", "granule layer"),),
             (("granule", "principal cell"),), "claiborne"),
    Archive("Turner", 100, (("rat", 1.0),),
             (("hippocampus", "CA1", "principal cell layer"),
              ("hippocampus", "CA3", "principal cell layer")), _PYR, "turner"),
    Archive("Amaral", 80, (("rat", 1.0),),
             (("entorhinal cortex", "layer 2"), ("entorhinal cortex", "layer 3"),
              ("hippocampus", "CA3")),
             (("stellate", "principal cell"), *_PYR), "amaral"),
    Archive("De Koninck", 60, (("rat", 1.0),), (("spinal cord", "dorsal horn", "lamina I"),),
             (("projection", "principal cell"),), "dekoninck"),
    Archive("Barrionuevo", 150, (("rat", 1.0),),
             (("entorhinal cortex", "layer 5"), ("hippocampus", "CA3", "principal cell layer"),
              ("piriform cortex",)), (*_PYR, *_INT), "barrionuevo"),
    Archive("Kubota.Y", 70, (("rat", 1.0),),
             (("neocortex", "frontal", "layer 2-3"), ("neocortex", "frontal", "layer 5")),
             _INT, "kubota"),
    # Absorbs the rounding when n_neurons is not 3000.
    Archive("Svoboda", 69, (("mouse", 1.0),),
             (("neocortex", "barrel cortex", "layer 2-3"),
              ("neocortex", "somatosensory", "layer 5")), (*_PYR, *_INT), "svoboda"),
)  # fmt: skip

STAINS = (
    "biocytin",
    "lucifer yellow",
    "Golgi",
    "GFP",
    "neurobiotin",
    "horseradish peroxidase",
    "Not reported",
)
SOFTWARE_FORMAT = (
    ("Neurolucida", "Neurolucida.asc"),
    ("Neurolucida", "Neurolucida.dat"),
    ("Neurozoom", "Neurozoom.swc"),
    ("Vaa3D", "Vaa3D.swc"),
    ("Imaris", "Imaris.swc"),
    ("Simple Neurite Tracer", "SNT.traces"),
    ("Custom", "Custom.xml"),
    ("Knossos", "Knossos.nml"),
)
PROTOCOLS = ("in vivo", "in vitro", "ex vivo", "culture", "Not reported")
SLICING = ("coronal", "sagittal", "horizontal", "custom", "Not reported", "Not applicable")
OBJECTIVES = ("oil", "water", "dry", "Not reported")
MAGNIFICATIONS = ("100", "60", "63", "40", "20", "Not reported")
THICKNESS = ("400", "300", "350", "200", "100", "50.0", "Not reported", "Not applicable")
DOMAINS = ("Dendrites, Soma, No Axon", "Dendrites, Soma, Axon", "No Dendrites, Soma, Axon")
ATTRIBUTES = ("Diameter, 3D, Angles", "No Diameter, 2D, Angles", "Diameter, 3D, No Angles")
INTEGRITY = (
    "Dendrites Moderate",
    "Dendrites Complete",
    "Dendrites & Axon Complete",
    "Dendrites Incomplete",
    "Axon Incomplete",
    "Dendrites & Axon Moderate",
)
GENDERS = ("Male", "Female", "Male/Female", "Not reported")
CONDITIONS = (
    ("Control",),
    ("Control",),
    ("Control",),
    ("Transgenic",),
    ("Aged",),
    ("Control", "Sham"),
    ("Disease: Alzheimer's",),
)
NOTES = (
    "Neurons were reconstructed from 3 animals.",
    "Axon not fully reconstructed; see original publication.",
    "Soma reconstructed as a single contour.",
    "Reconstruction includes the dendritic spines only partially.",
)
JOURNALS = (
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
