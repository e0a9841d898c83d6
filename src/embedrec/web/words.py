"""The web page and API for word vectors: a Word2Vec or TextClassifier model, or a vectors file.

The page is the interactive map of the most frequent words (search, hover, nearest neighbours on click:
the same page `embedrec plot --out map.html` writes); the API searches words and lists a word's
nearest neighbours in the full space. Everything is computed at start-up, so request threads only read.
(No `from __future__ import annotations` here: FastAPI reads the route signatures' types at run time.)
"""

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Query
from fastapi import Path as PathParam
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse

from embedrec import __version__
from embedrec.data.embeddings import EmbeddingTable
from embedrec.query.wordeval import load_embeddings, word_key
from embedrec.show.mapview import map_html
from embedrec.show.projection import project_table
from embedrec.web.app import _add_docs, _add_error_handlers

MAP_WORDS = 2000  # the most frequent words on the page's map


class WordsService:
    """One table of word vectors with its search order and its map page."""

    def __init__(self, table: EmbeddingTable, *, map_words: int = MAP_WORDS) -> None:
        self.table = table
        self.model = table  # what `embedrec serve` names when it starts
        self.order = table.popularity_order()  # most frequent first (row order without counts)
        self.lower = np.array([str(k).lower() for k in table.keys], dtype=object)
        projection = project_table(table, "pca", max_rows=min(map_words, len(table)))
        title = f"{table.name}: the {projection.n_shown:,} most frequent words"
        self.page = map_html(table, projection, color="none", title=title)

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Words starting with `query` (case-insensitive), most frequent first; empty: the most frequent."""
        q = query.strip().lower()
        rows = self.order if not q else self.order[[w.startswith(q) for w in self.lower[self.order]]]
        return [self.card(int(r)) for r in rows[:limit]]

    def card(self, row: int, similarity: float | None = None) -> dict[str, Any]:
        key = self.table.ids.raw_id(row)
        count = None if self.table.counts is None else int(self.table.counts[row])
        out: dict[str, Any] = {"word": str(key), "count": count}
        if similarity is not None:
            out["similarity"] = round(float(similarity), 6)
        return out

    def similar(self, word: str, n: int) -> dict[str, Any]:
        key = word_key(self.table, word)
        keys, sims = self.table.similar(key, n=n)
        rows = self.table.ids.indices(keys)
        return {
            "word": self.card(self.table.index(key)),
            "similar": [self.card(int(r), s) for r, s in zip(rows, sims, strict=True)],
        }


def create_words_app(source: EmbeddingTable | str | Path, *, map_words: int = MAP_WORDS) -> FastAPI:
    """The app for word vectors: an EmbeddingTable, a words model directory or a vectors file."""
    table = source if isinstance(source, EmbeddingTable) else load_embeddings(source)
    service = WordsService(table, map_words=map_words)
    app = FastAPI(
        title="embedrec words",
        version=__version__,
        summary="Search word vectors, their nearest neighbours, and a map of the most frequent words.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    _add_error_handlers(app)
    _add_docs(app)

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(service.page)

    @app.get("/health", tags=["model"])
    def health() -> dict[str, Any]:
        """The vectors being served: their name, how many words and dimensions, the package version."""
        return {"model": table.name, "version": __version__, "n_words": len(table), "dim": table.dim}

    @app.get("/words", tags=["words"])
    def search_words(
        q: Annotated[
            str, Query(max_length=200, description="The start of a word; empty lists the most frequent.")
        ] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> dict[str, Any]:
        """Words starting with `q`, most frequent first."""
        return {"query": q, "words": service.search(q, limit)}

    @app.get("/words/{word}/similar", tags=["words"], responses={404: {"description": "Unknown word."}})
    def similar_words(
        word: Annotated[str, PathParam(max_length=200)],
        n: Annotated[int, Query(ge=1, le=1000)] = 10,
    ) -> dict[str, Any]:
        """The `n` words with the most similar vectors (cosine), best first."""
        return service.similar(word, n)

    return app
