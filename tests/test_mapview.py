"""The HTML map: neighbours against a dense reference, and the page driven in headless Chromium."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from embedrec.data.embeddings import EmbeddingTable
from embedrec.data.idmap import IdMap
from embedrec.show.mapview import nearest_neighbors, write_html
from embedrec.show.projection import project_table


@pytest.fixture(scope="module")
def table() -> EmbeddingTable:
    rng = np.random.default_rng(3)
    n = 300
    meta = pd.DataFrame({"title": [f"Film {i}" for i in range(n)], "year": 2000.0, "genres": "Drama|War"})
    meta.loc[7, "title"] = "Toy Story (1995)"
    return EmbeddingTable(rng.normal(size=(n, 6)).astype(np.float32), IdMap(np.arange(n)), meta=meta,
                          counts=rng.integers(1, 100, n), name="test item factors")  # fmt: skip


def test_neighbours_match_cdist(table: EmbeddingTable) -> None:
    idx, sims = nearest_neighbors(table.vectors, np.arange(20), 5)
    d = cdist(table.vectors[:20], table.vectors, "cosine")
    d[np.arange(20), np.arange(20)] = np.inf
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(sims, 1 - np.sort(d, axis=1)[:, :5], atol=1e-5)


def test_page_hover_search_click(table: EmbeddingTable, browser, tmp_path) -> None:
    path = write_html(table, project_table(table), tmp_path / "map.html", n_neighbors=5)
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        i = page.evaluate("embedrecMap.indexOf('Toy Story (1995)')")
        x, y = page.evaluate(f"embedrecMap.screenXY({i})")
        page.mouse.move(x, y)
        assert "Toy Story (1995)" in page.inner_text("#tooltip")
        page.fill("#search", "toy story")
        assert page.evaluate("embedrecMap.matches()") == [i]
        page.mouse.click(x, y)
        assert len(page.query_selector_all("#neighbours li")) == 5
    finally:
        page.close()
