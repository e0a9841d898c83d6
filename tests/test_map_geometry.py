"""The map's geometry (show/static/geometry.js) run in Chromium against plain NumPy references: the fitted
frame holds every highlighted point, labels land inside the canvas without overlapping, and an arrow key
leads to the point the documented rule picks."""

from __future__ import annotations

import numpy as np
import pytest

from embedrec.show.assets import inline_import_map


@pytest.fixture(scope="module")
def geometry(browser):
    """A blank page with geometry.js importable; `call(name, *args)` runs one of its functions."""
    page = browser.new_page()
    page.set_content(f'<script type="importmap">{inline_import_map("geometry.js")}</script>')

    def call(name: str, *args):
        js = f"async (args) => (await import('embedrec/geometry.js')).{name}(...args)"
        return page.evaluate(js, list(args))

    yield call, page
    page.close()


def test_fit_holds_the_bulk_and_every_highlighted_point(geometry) -> None:
    call, _ = geometry
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=500), rng.normal(size=500) * 0.3
    xs[:3] = [40.0, -25.0, 3.0]  # far outliers, highlighted
    box = call("bulkBox", xs.tolist(), ys.tolist())
    assert box == pytest.approx([*np.quantile(xs, [0.005, 0.995], method="nearest"),
                                 *np.quantile(ys, [0.005, 0.995], method="nearest")], abs=1e-9)  # fmt: skip
    w, h, margin = 390.0, 500.0, 28.0
    frame = call("fitFrame", box, [0, 1, 2], xs.tolist(), ys.tolist(), w, h, margin)
    px = w / 2 + (xs - frame["cx"]) * frame["s"]
    py = h / 2 - (ys - frame["cy"]) * frame["s"]
    inside = (
        (px >= margin - 1e-9) & (px <= w - margin + 1e-9) & (py >= margin - 1e-9) & (py <= h - margin + 1e-9)
    )
    assert inside[:3].all()  # the highlighted outliers
    x0, x1, y0, y1 = box
    assert inside[(xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)].all()


def test_labels_stay_inside_and_apart(geometry) -> None:
    call, page = geometry
    rng = np.random.default_rng(1)
    w, h = 390.0, 300.0
    points = np.column_stack([rng.uniform(0, w, 60), rng.uniform(0, h, 60)])
    points[:4] = [[1, 1], [w - 1, 1], [1, h - 1], [w - 1, h - 1]]  # the corners
    js = """async ([pts, w, h]) => {
      const g = await import('embedrec/geometry.js');
      const taken = [];
      return pts.map(([x, y]) => {
        const b = g.labelBox(x, y, 6, 120, 15, w, h, taken);
        if (b) taken.push(b);
        return b;
      });
    }"""
    boxes = [b for b in page.evaluate(js, [points.tolist(), w, h]) if b is not None]
    assert len(boxes) >= 20
    b = np.array(boxes)
    assert (
        (b[:, 0] >= 2).all()
        and (b[:, 1] >= 2).all()
        and (b[:, 2] <= w - 2).all()
        and (b[:, 3] <= h - 2).all()
    )
    overlap = (b[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < b[:, None, 2])
    overlap &= (b[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < b[:, None, 3])
    np.fill_diagonal(overlap, False)
    assert not overlap.any()
    corners = page.evaluate(js, [points[:4].tolist(), w, h])
    assert all(c is not None for c in corners)  # even a point in a corner gets its label


def step_reference(xy: np.ndarray, i: int, u: tuple[int, int]) -> int:
    """The rule, one point at a time: in a ±45° cone (else ±72°), least along + 2·sideways, lowest index."""
    d = xy - xy[i]
    along = d @ np.array(u, dtype=float)
    side = np.abs(d[:, 0] * u[1] - d[:, 1] * u[0])
    for spread in (1, 3):
        ok = (along >= 0.5) & (side <= spread * along)
        if ok.any():
            score = np.where(ok, along + 2 * side, np.inf)
            return int(np.argmin(score))
    return -1


def test_arrow_keys_follow_the_rule(geometry) -> None:
    _, page = geometry
    rng = np.random.default_rng(2)
    xy = np.round(rng.uniform(0, 400, size=(300, 2)), 1)
    js = """async ([xy, starts, dirs]) => {
      const g = await import('embedrec/geometry.js');
      const sx = (i) => xy[i][0], sy = (i) => xy[i][1];
      return starts.flatMap((i) => dirs.map(([ux, uy]) => g.stepFrom(xy.length, sx, sy, i, ux, uy)));
    }"""
    starts = list(range(0, 300, 7))
    dirs = [(1, 0), (-1, 0), (0, -1), (0, 1)]
    got = page.evaluate(js, [xy.tolist(), starts, dirs])
    expected = [step_reference(xy, i, u) for i in starts for u in dirs]
    assert got == expected
    for (i, u), j in zip(((i, u) for i in starts for u in dirs), got, strict=True):
        if j >= 0:
            assert (xy[j] - xy[i]) @ np.array(u) > 0  # always a step the way the arrow points
    assert sum(j < 0 for j in got) < len(got) // 4  # only points at the edge have nowhere to go
