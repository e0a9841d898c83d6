"""The HTTP API and the web page, both served by one FastAPI app built around one fitted model.

`create_app(model_or_dir)` loads the model once; handlers only read it. The event loop only routes:
work that costs CPU (search, recommendations, explanations) runs in worker threads, at most
`max_threads` at a time so that a burst of heavy requests queues instead of starving the loop, batches
(more than `BATCH` ratings or pairs) one at a time among them, and maps run as jobs of their own
(`web/jobs.py`). Request bodies over `max_body` bytes are refused with 413
before they are read. Bad input never reaches a 500: unknown ids and titles are 404s naming them,
everything else a 422 saying what was expected, in one short line. The OpenAPI page at /docs works
offline. (No `from __future__ import annotations` here: FastAPI reads the route signatures' types at
run time.)
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
from fastapi import Body, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from embedrec import __version__
from embedrec.errors import EmbedrecError, UnknownIdError
from embedrec.query.recommender import Recommender
from embedrec.show.assets import STATIC as SHOW_STATIC
from embedrec.web.jobs import MAX_HEAVY, MapJobs
from embedrec.web.limits import MAX_BODY, BodyLimit, one_line
from embedrec.web.schemas import (
    MAX_TITLE,
    Health,
    Item,
    ItemList,
    MapPoints,
    Metric,
    Predictions,
    PredictRequest,
    Problem,
    Recommendations,
    RecommendRequest,
    SimilarItems,
    TopN,
)
from embedrec.web.service import ModelService

T = TypeVar("T")
MAX_THREADS = 4  # requests computing at once; more would only contend for the GIL
BATCH = 50  # a request naming more items (or asking for more results) than this is a batch ...
MAX_BATCHES = 1  # ... and batches compute one at a time, leaving the other threads to everyone else
STATIC = Path(__file__).parent / "static"
RawIdPath = Annotated[str, PathParam(max_length=MAX_TITLE, description="A raw id as the data spells it.")]
NOT_FOUND = {404: {"model": Problem, "description": "Unknown id or title (the message names it)."}}


def create_app(
    model: Any,
    *,
    map_methods: list[str] | None = None,
    max_body: int = MAX_BODY,
    max_threads: int = MAX_THREADS,
    max_heavy_maps: int = MAX_HEAVY,
) -> FastAPI:
    """The app for a Recommender, a fitted model or a saved model directory.

    `map_methods` limits GET /map's choices; `max_body` caps request bodies (bytes); `max_threads` bounds
    the requests computing at once and `max_heavy_maps` the t-SNE/UMAP processes.
    """
    if isinstance(model, str | Path):
        model = Recommender.load(model)
    elif not isinstance(model, Recommender):
        model = Recommender(model)
    service = ModelService(model)
    methods = list(map_methods) if map_methods is not None else service.map_methods()
    MapMethod = Literal[tuple(methods)] if methods else str  # noqa: N806 - a type, named like one
    maps = MapJobs(methods, service.map_table, service.map_rows, service.encode_map, max_heavy=max_heavy_maps)
    state: dict[str, anyio.CapacityLimiter] = {}

    def limiters() -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        """(all requests, batches): made in the running loop, at start-up or on first use."""
        if not state:
            state["all"] = anyio.CapacityLimiter(max_threads)
            state["batch"] = anyio.CapacityLimiter(MAX_BATCHES)
        return state["all"], state["batch"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.clear()  # a new event loop: new limiters
        limiters()
        try:
            yield
        finally:
            maps.close()

    async def run(fn: Callable[..., T], *args: Any, batch: bool = False) -> T:
        """`fn(*args)` in a worker thread, at most `max_threads` at once and at most `MAX_BATCHES` of them
        batches (a queue, not the event loop), so a burst of big requests cannot take every thread."""
        everyone, batches = limiters()
        if not batch:
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=everyone)
        async with batches:
            return await anyio.to_thread.run_sync(partial(fn, *args), limiter=everyone)

    app = FastAPI(
        title="embedrec",
        version=__version__,
        summary="Recommendations, similar items and the embedding map of one trained model.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.maps = maps
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(BodyLimit, max_bytes=max_body)  # outermost: big bodies never reach the app
    _add_error_handlers(app)
    _add_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/assets", StaticFiles(directory=SHOW_STATIC), name="assets")  # the page's modules and map

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health", response_model=Health, tags=["model"])
    async def health() -> dict[str, Any]:
        """The model being served: its class, size, rating scale and the package version."""
        m = service.model
        return {
            "model": type(m).__name__,
            "version": __version__,
            "n_users": len(service.user_ids),
            "n_items": len(service.item_ids),
            "n_factors": int(m.item_vectors().shape[1]) if service.has_vectors else 0,
            "scale": {"low": m.scale_.low, "high": m.scale_.high, "step": m.scale_.step},
            "map_methods": methods,
        }

    @app.get("/items", response_model=ItemList, tags=["items"])
    async def search_items(
        q: Annotated[
            str, Query(max_length=MAX_TITLE, description="Part of a title; empty lists the most rated.")
        ] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> dict[str, Any]:
        """Fuzzy, case-insensitive title search ("toy story", "godfather"), best matches first."""
        return {"query": q, "items": await run(service.search, q, limit)}

    @app.get("/items/{item_id}", response_model=Item, responses=NOT_FOUND, tags=["items"])
    def get_item(item_id: RawIdPath) -> dict[str, Any]:
        """One item: title, year, genres and how many ratings it has."""
        return service.card(service.item_index(item_id))

    @app.get("/items/{item_id}/similar", response_model=SimilarItems, responses=NOT_FOUND, tags=["items"])
    async def similar_items(
        item_id: RawIdPath,
        n: Annotated[TopN, Query()] = 10,
        metric: Metric = "cosine",
        min_ratings: Annotated[
            int | None,
            Query(
                ge=0, le=1_000_000, description="Skip items rated less often (default: the server's policy)."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """The `n` items whose embeddings are closest to this one's ("more like this")."""
        item, items = await run(service.similar, item_id, n, metric, min_ratings)
        return {"item": item, "metric": metric, "items": items}

    @app.get(
        "/users/{user_id}/recommendations",
        response_model=Recommendations,
        responses=NOT_FOUND,
        tags=["users"],
    )
    async def user_recommendations(
        user_id: RawIdPath, n: Annotated[TopN, Query()] = 10, explain: bool = True
    ) -> dict[str, Any]:
        """Top-`n` unseen items for a user of the training data, with the rated items behind each."""
        user, items = await run(service.for_user, user_id, n, explain)
        return {"user": user, "items": items}

    @app.post("/recommendations", response_model=Recommendations, responses=NOT_FOUND, tags=["users"])
    async def visitor_recommendations(request: Annotated[RecommendRequest, Body()]) -> dict[str, Any]:
        """Recommendations for anyone from a few ratings (ids or titles), without retraining (fold-in);
        `matched` says which item each title was taken to mean."""
        pairs = [(r.item, r.rating) for r in request.ratings]
        batch = len(pairs) > BATCH or request.n > BATCH
        items, matched = await run(service.for_ratings, pairs, request.n, request.explain, batch=batch)
        return {"user": None, "items": items, "matched": matched}

    @app.post("/predict", response_model=Predictions, responses=NOT_FOUND, tags=["users"])
    async def predict(request: Annotated[PredictRequest, Body()]) -> dict[str, Any]:
        """Predicted ratings for (known user, item or title) pairs; `matched` says how titles were read."""
        pairs = [(p.user, p.item) for p in request.pairs]
        predictions, matched = await run(service.predict, pairs, batch=len(pairs) > BATCH)
        return {"predictions": predictions, "matched": matched}

    @app.get("/map", response_model=MapPoints, tags=["items"])
    async def item_map(request: Request, method: MapMethod = methods[0] if methods else "pca") -> Response:  # type: ignore[valid-type]
        """2-D coordinates of the item embeddings: all items for PCA, the most rated for t-SNE and UMAP.

        Computed on the first request for a method (tens of seconds for t-SNE and UMAP, in a separate
        process, while the server keeps answering), then cached.
        """
        if method not in methods:
            raise EmbedrecError(f"unknown map method {method!r}; choose one of {', '.join(methods)}")
        # shielded: a client that goes away does not cancel the map others wait for
        body = await asyncio.shield(asyncio.wrap_future(maps.get(method)))
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers = {"content-encoding": "gzip", "vary": "Accept-Encoding"}
            return Response(body.gzip, media_type="application/json", headers=headers)
        return Response(body.json, media_type="application/json")

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Our errors become a JSON `detail`: unknown ids 404, any other bad input 422. Any other exception is
    a bug: FastAPI logs its traceback and answers 500."""

    @app.exception_handler(UnknownIdError)
    def _unknown(request: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": one_line(str(exc))}, status_code=404)

    @app.exception_handler(EmbedrecError)
    def _invalid(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": one_line(str(exc))}, status_code=422)

    @app.exception_handler(RequestValidationError)
    def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One line naming the first bad field, never the input itself (it may be megabytes, or NaN)."""
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        detail = one_line(f"{where}: {first.get('msg', 'invalid')}{more}")
        return JSONResponse({"detail": detail}, status_code=422)


def _add_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from assets installed with the package (the default loads them from a CDN)."""
    assets = files("fastapi_swagger") / "resources"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="openapi.json",
            title="embedrec API",
            swagger_js_url="docs-assets/swagger-ui-bundle.js",
            swagger_css_url="docs-assets/swagger-ui.css",
            swagger_favicon_url="docs-assets/favicon-32x32.png",
        )
