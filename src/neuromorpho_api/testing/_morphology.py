"""Synthetic SWC bodies: neuron-shaped reconstructions grown from a seed.

Bodies are neuron-shaped: a three-point soma at the origin, several primary neurites, bushy
dendritic trees whose branches shorten and thin with order, an optional thinner and longer
axon with collaterals, all as smooth walks of 1-5 um steps. The shape follows the record's
``cell_type`` (pyramidal: apical and basal dendrites; Purkinje: a flat fan; glia: small and
bushy; granule: a cone; others multipolar), and bigger files hold bigger trees, not longer
lines. The header follows the standardised CNG files; fault cases (broken bodies, latin-1
header bytes, a UTF-8 BOM with CRLF line ends) are chosen by the caller.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["grow_neuron", "swc_body"]

SWC_FORMATS = (
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


def grow_neuron(
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


def swc_body(
    rec: Mapping[str, Any],
    *,
    seed: int,
    target: int,
    fmt_ext: str,
    quirk: str | None = None,
    broken: bool = False,
) -> bytes:
    """The CNG SWC file of *rec*, about *target* bytes (neuron 1: its real 1,281 lines).

    *fmt_ext* is the extension of the original upload named in the header, *quirk*
    ``"latin-1"`` or ``"utf-8-sig"`` an encoding fault, *broken* a body that is not SWC.
    """
    nid = int(rec["neuron_id"])
    rng = random.Random(f"{seed}:swc:{nid}")
    rnd = rng.random
    name = rec["neuron_name"]
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
    budget = target - sum(len(x) + 1 for x in lines)
    if nid == 1:
        n_nodes = 1281 - len(lines)  # the real cnic_001.CNG.swc has 1,281 lines
        budget = 1 << 40
        fmt = SWC_FORMATS[0][1]
    else:
        n_nodes = 1 << 40
        x = rnd()
        fmt = SWC_FORMATS[-1][1]
        for weight, candidate in SWC_FORMATS:
            if x < weight:
                fmt = candidate
                break
            x -= weight
    if broken:
        n_nodes = 40
    grow_neuron(lines, fmt, n_nodes, max(budget, 500), rec, rng)
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
