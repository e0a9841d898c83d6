"""Labels on a static map: the most important points named, no two labels overlapping, none cut off.

Greedy in priority order (the most-rated point first), so a label never loses its place to a later one.
Each label tries, in turn: the eight positions beside its point; rings further out, with a thin leader
line back to the point, pointing as directly away from the middle of the map as is free (points thin
out towards the edges); the nearer edge of the map, as level with its point as is free. At each step a
smaller font is tried before going further. A position is free when the label lies inside the axes,
overlaps no label or leader line already placed and no labelled point, and its leader line crosses no
label and no other leader line. Long titles are shortened first (`short_label`). Positions are measured
in display pixels once the axes' limits are settled.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
from matplotlib.figure import Figure

GID = "embedrec-label"  # every placed label carries it (and SVG output its id), so it can be found again
NEAR = 4.0  # pixels between a point and a label beside it
RINGS = (14.0, 24.0, 36.0, 52.0, 72.0, 96.0, 128.0, 168.0)  # distances (pixels) tried with a leader line
NEAR_ANGLES = (45, -45, 135, -135, 0, 180, 90, -90)  # beside the point: the upper right first
FAR_ANGLES = tuple(45 + 22.5 * k for k in range(16))
EDGE_RISE = 120  # pixels above or below its point a label at the edge of the map may be
MARGIN = 1.5  # pixels kept clear around every label
MARKER = 3.5  # radius (pixels) kept clear around every labelled point
MAX_CHARS = 32
YEAR = re.compile(r"\s*\((\d{4})\)\s*$")


def _align(angle: float) -> tuple[str, str]:
    """Horizontal and vertical alignment of a label placed in direction `angle` (degrees) from its point."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    ha = "left" if c > 0.3 else "right" if c < -0.3 else "center"
    va = "bottom" if s > 0.3 else "top" if s < -0.3 else "center"
    return ha, va


def _box(x: float, y: float, w: float, h: float, dx: float, dy: float, ha: str, va: str) -> np.ndarray:
    """[x0, y0, x1, y1] of a w × h label anchored at (x + dx, y + dy) with that alignment."""
    x0 = x + dx - {"left": 0.0, "center": w / 2, "right": w}[ha]
    y0 = y + dy - {"bottom": 0.0, "center": h / 2, "top": h}[va]
    return np.array([x0 - MARGIN, y0 - MARGIN, x0 + w + MARGIN, y0 + h + MARGIN])


def _hits(box: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether `box` overlaps any row of `boxes` (k, 4)."""
    if not len(boxes):
        return False
    return bool(
        np.any(
            (box[0] < boxes[:, 2]) & (boxes[:, 0] < box[2]) & (box[1] < boxes[:, 3]) & (boxes[:, 1] < box[3])
        )
    )


def _segment_hits(a: np.ndarray, b: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether the segment a–b passes through any of `boxes` (sampled every pixel or so)."""
    if not len(boxes):
        return False
    n = max(2, int(np.hypot(*(b - a))))
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = a + t * (b - a)  # (n, 2)
    inside = (
        (pts[:, None, 0] > boxes[None, :, 0])
        & (pts[:, None, 0] < boxes[None, :, 2])
        & (pts[:, None, 1] > boxes[None, :, 1])
        & (pts[:, None, 1] < boxes[None, :, 3])
    )
    return bool(inside.any())


def _crosses(a: np.ndarray, b: np.ndarray, segments: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether the segment a–b crosses any of `segments` (leader lines already drawn)."""

    def side(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> float:
        return float((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    return any(side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0 for c, d in segments)


def short_label(text: str, limit: int = MAX_CHARS) -> str:
    """A title short enough to label a point: other names in brackets dropped ("Seven (a.k.a. Se7en)
    (1995)" → "Seven (1995)"), then the name cut before a trailing year, which is kept."""
    year = YEAR.search(text)
    name = text[: year.start()] if year else text
    name = re.sub(r"\s+\([^()]*\)", "", name).strip() or name.strip()
    tail = f" ({year.group(1)})" if year else ""
    if len(name) + len(tail) > limit:
        name = name[: max(limit - len(tail) - 1, 1)].rstrip(" ,:-") + "…"
    return name + tail


def _polar(radius: float, angle: float) -> tuple[float, float]:
    return radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))


def _segment_box(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A leader line a–b as thin boxes (one per few pixels), so that later labels keep off it."""
    n = max(2, int(np.hypot(*(b - a)) / 3))
    pts = a + np.linspace(0.0, 1.0, n)[:, None] * (b - a)
    return np.column_stack([pts - 1.0, pts + 1.0])  # (n, 4)


class _Placer:
    """What is on the map so far, in display pixels: the labelled points, label boxes and leader lines."""

    def __init__(self, frame, points: np.ndarray) -> None:  # noqa: ANN001
        self.frame = frame  # the axes' box
        self.points = points  # (n, 2) labelled points, in priority order
        self.markers = np.column_stack([points - MARKER, points + MARKER])  # (n, 4)
        self.centre = np.array([(frame.x0 + frame.x1) / 2, (frame.y0 + frame.y1) / 2])
        self.taken = np.zeros((0, 4))  # labels and leader lines: a new label keeps off both
        self.labels = np.zeros((0, 4))  # labels only: a new leader line does not cross them
        self.leaders: list[tuple[np.ndarray, np.ndarray]] = []  # nor another leader line

    def spot(
        self, k: int, extents: list[tuple[float, float, float]]
    ) -> tuple[float, float, float, str, str, np.ndarray] | None:
        """(size, dx, dy, ha, va, box) of the best free position for point k's label, whose (size, width,
        height) at each font size are `extents`, or None. The first group of positions (`_groups`) with
        a free one at any size wins, the larger size first, and in it the free position costing least."""
        x, y = self.points[k]
        others = np.delete(self.markers, k, axis=0)
        f = self.frame
        for group, (size, w, h) in itertools.product(self._groups(k), extents):
            best, best_cost = None, math.inf
            for dx, dy, ha, va, cost in group:
                if cost >= best_cost:
                    continue
                box = _box(x, y, w, h, dx, dy, ha, va)
                if box[0] < f.x0 or box[2] > f.x1 or box[1] < f.y0 or box[3] > f.y1:
                    continue
                if _hits(box, self.taken) or _hits(box, others):
                    continue
                end = np.array([x + dx, y + dy])
                if math.hypot(dx, dy) > NEAR and (
                    _segment_hits(self.points[k], end, self.labels)
                    or _crosses(self.points[k], end, self.leaders)
                ):
                    continue
                best, best_cost = (size, dx, dy, ha, va, box), cost
            if best is not None:
                return best
        return None

    def _groups(self, k: int) -> list[list[tuple[float, float, str, str, float]]]:
        """Positions (dx, dy, ha, va, cost) for point k's label, in groups tried in turn: beside the point
        (the upper right first); on rings further out, pointing away from the middle of the map, where
        the points thin out; at the nearer edge of the map, as level with the point as there is room."""
        x, y = self.points[k]
        out = self.points[k] - self.centre
        away = math.degrees(math.atan2(out[1], out[0]))
        near = [(*_polar(NEAR, a), *_align(a), float(i)) for i, a in enumerate(NEAR_ANGLES)]
        rings = [
            [(*_polar(r, a), *_align(a), abs((a - away + 180.0) % 360.0 - 180.0)) for a in FAR_ANGLES]
            for r in RINGS
        ]
        f = self.frame
        left = x - f.x0 < f.x1 - x
        edge_x, ha = (f.x0 + MARGIN + 1, "left") if left else (f.x1 - MARGIN - 1, "right")
        edges = [(edge_x - x, float(dy), ha, "center", abs(dy)) for dy in range(-EDGE_RISE, EDGE_RISE + 1, 4)]
        return [near, *rings, edges]

    def take(self, k: int, dx: float, dy: float, box: np.ndarray) -> None:
        """Record a placed label (and its leader line, if it is away from its point)."""
        self.taken = np.vstack([self.taken, box[None, :]])
        self.labels = np.vstack([self.labels, box[None, :]])
        if math.hypot(dx, dy) > NEAR:
            end = self.points[k] + np.array([dx, dy])
            self.taken = np.vstack([self.taken, _segment_box(self.points[k], end)])
            self.leaders.append((self.points[k], end))


def place_labels(
    fig: Figure,
    ax,  # noqa: ANN001
    xy: np.ndarray,
    texts: list[str],
    fontsize: float = 7.0,
    *,
    sizes: tuple[float, ...] = (),
) -> list[int]:
    """Label the points `xy` (data coordinates, most important first) with `texts`, each marked with a
    ring; returns the indices of the labels placed. `sizes` are smaller font sizes tried when a label
    finds no room at `fontsize`."""
    ax.autoscale_view()  # settle the data limits first: positions are measured against them
    renderer = fig.canvas.get_renderer()
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    placer = _Placer(ax.get_window_extent(renderer), ax.transData.transform(xy))
    shorts = [short_label(text) for text in texts]
    extents = [_extents(ax, renderer, short, (fontsize, *sizes)) for short in shorts]
    placed: dict[int, tuple] = {}
    for k in range(len(texts)):  # in priority order: a label never loses its place to a later one
        spot = placer.spot(k, extents[k])
        if spot is not None:
            placer.take(k, spot[1], spot[2], spot[5])
            placed[k] = spot
    for k in sorted(placed):
        size, dx, dy, ha, va, _ = placed[k]
        leader = math.hypot(dx, dy) > NEAR
        arrow = {"arrowstyle": "-", "color": "#444444", "lw": 0.6, "shrinkA": 0, "shrinkB": 2}
        ax.annotate(
            shorts[k], tuple(xy[k]), xytext=(dx, dy), textcoords="offset pixels", fontsize=size, ha=ha,
            va=va, color="#111111", zorder=5, gid=GID, arrowprops=arrow if leader else None,
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        )  # fmt: skip
        ax.scatter([xy[k, 0]], [xy[k, 1]], s=14, facecolors="none", edgecolors="black", linewidths=0.7,
                   zorder=4)  # fmt: skip
    return sorted(placed)


def _extents(ax, renderer, text: str, sizes: tuple[float, ...]) -> list[tuple[float, float, float]]:  # noqa: ANN001
    """(size, width, height) in pixels of `text` at each font size."""
    out = []
    for size in sizes:
        probe = ax.annotate(text, (0, 0), fontsize=size)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        out.append((size, extent.width, extent.height))
    return out


def placed_labels(fig: Figure) -> list[str]:
    """The texts of the labels `place_labels` put on a figure, in the order they were placed."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == GID]
