"""Labels on static maps: the most-rated points named wherever there is room, never overlapping.

The README's map (movielens-small, the 2,000 most-rated movies, `--labels 40`) placed 19 of its 40
labels with one position per label; trying positions around each point, then leader lines, then a
smaller font, then the edge of the map places 34 (BayesianDotBias) and 36 (the DotBias here).
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

import embedrec
from embedrec.show.labels import GID, place_labels, placed_labels, short_label
from embedrec.show.plots import label_rows, plot_map
from embedrec.show.projection import project_table


def _axes(xy: np.ndarray) -> tuple[Figure, object]:
    fig = Figure(figsize=(10, 8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.04, 0.05, 0.74, 0.85))
    ax.scatter(xy[:, 0], xy[:, 1], s=5)
    return fig, ax


def _boxes(fig: Figure) -> tuple[np.ndarray, object]:
    """Pixel boxes (k, 4) of the labels placed, and the axes' box."""
    fig.canvas.draw()  # an annotation's text is positioned when drawn
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    # the text's own box (an Annotation's get_window_extent also spans its leader line)
    boxes = [Text.get_window_extent(t, renderer).extents for t in ax.texts if t.get_gid() == GID]
    return np.array(boxes).reshape(-1, 4), ax.get_window_extent(renderer)


def _assert_tidy(fig: Figure) -> None:
    """No two labels overlap, and every label lies inside the axes."""
    boxes, frame = _boxes(fig)
    for i in range(len(boxes)):
        a = boxes[i]
        assert frame.x0 <= a[0] and a[2] <= frame.x1 and frame.y0 <= a[1] and a[3] <= frame.y1
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_points_with_room_are_all_labelled_beside_them() -> None:
    xy = np.array([(x, y) for x in range(6) for y in range(5)], dtype=float)  # far apart
    fig, ax = _axes(xy)
    texts = [f"point {k}" for k in range(len(xy))]
    assert place_labels(fig, ax, xy, texts) == list(range(len(xy)))
    assert placed_labels(fig) == texts
    _assert_tidy(fig)
    assert not any(t.arrow_patch for t in ax.texts)  # no leader line needed


def test_a_crowd_gets_leader_lines_and_the_first_labels_their_places() -> None:
    rng = np.random.default_rng(0)
    crowd = rng.normal(size=(2000, 2))
    xy = rng.normal(scale=0.15, size=(40, 2))  # 40 labelled points in the middle of the crowd
    texts = [f"A rather long movie title {k} (1999)" for k in range(40)]
    fig, ax = _axes(np.vstack([crowd, xy]))
    placed = place_labels(fig, ax, xy, texts, sizes=(6,))
    _assert_tidy(fig)
    assert len(placed) >= 10 and any(t.arrow_patch for t in ax.texts)  # 12 measured
    assert placed[:5] == [0, 1, 2, 3, 4]  # greedy in priority order: the first get the room there is


def test_short_labels_keep_the_name_and_the_year() -> None:
    assert short_label("Seven (a.k.a. Se7en) (1995)") == "Seven (1995)"
    assert short_label("Raiders of the Lost Ark (Indiana Jones and the Raiders of the Lost Ark) (1981)") == (
        "Raiders of the Lost Ark (1981)"
    )
    assert short_label("(500) Days of Summer (2009)") == "(500) Days of Summer (2009)"
    long = short_label("Star Wars: Episode V - The Empire Strikes Back (1980)")
    assert long.endswith("… (1980)") and long.startswith("Star Wars: Episode V") and len(long) <= 32
    assert short_label("Exec-managerial") == "Exec-managerial"


def test_the_readme_map_names_the_most_rated_movies(small_model) -> None:
    table = embedrec.Recommender(small_model).embeddings("item")
    projection = project_table(table, "pca", max_rows=2000)
    fig = plot_map(table, projection, n_labels=40)
    placed = placed_labels(fig)
    names = [short_label(table.labels()[projection.rows[i]]) for i in label_rows(table, projection, 40)]
    assert len(placed) >= 34, f"{len(placed)} of 40 placed"  # 36 measured; one position per label: 19
    assert set(names[:15]) <= set(placed)  # the most-rated first
    assert set(placed) <= set(names)
    _assert_tidy(fig)


@pytest.mark.parametrize("n", [0, 5])
def test_a_few_labels_or_none(small_model, n: int) -> None:
    table = embedrec.Recommender(small_model).embeddings("item")
    fig = plot_map(table, project_table(table, "pca", max_rows=300), n_labels=n)
    assert len(placed_labels(fig)) == n
