"""Neuron names in each archive's own naming scheme (``cnic_001``, ``AA0001``, ...)."""

from __future__ import annotations

import random

__all__ = ["neuron_name"]


def neuron_name(kind: str, i: int, rng: random.Random, species: str) -> str:
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
