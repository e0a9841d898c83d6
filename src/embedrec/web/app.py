"""The HTTP API and the web page, both served by one FastAPI app built around one fitted model.

`create_app(model_or_dir)` loads the model once; handlers only read it, so uvicorn may serve requests
from many threads at once. Bad input never reaches a 500: unknown ids and titles are 404s naming
them, everything else a 422 saying what was expected. The OpenAPI page at /docs works offline.
(No `from __future__ import annotations` here: FastAPI reads the route signatures' types at run time.)
"""

import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

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

STATIC = Path(__file__).parent / "static"
RawIdPath = Annotated[str, PathParam(max_length=MAX_TITLE, description="A raw id as the data spells it.")]
NOT_FOUND = {404: {"model": Problem, "description": "Unknown id or title (the message names it)."}}


def create_app(model: Any, *, map_methods: list[str] | None = None) -> FastAPI:
    """The app for a Recommender, a fitted model or a saved model directory; `map_methods` limits
    GET /map's choices."""
    if isinstance(model, str | Path):
        model = Recommender.load(model)
    elif not isinstance(model, Recommender):
        model = Recommender(model)
    service = ModelService(model)
    methods = list(map_methods) if map_methods is not None else service.map_methods()
    MapMethod = Literal[tuple(methods)] if methods else str  # noqa: N806 - a type, named like one
    maps: dict[str, bytes] = {}  # method -> serialised JSON, so big maps are encoded once

    app = FastAPI(
        title="embedrec",
        version=__version__,
        summary="Recommendations, similar items and the embedding map of one trained model.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    _add_error_handlers(app)
    _add_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/assets", StaticFiles(directory=SHOW_STATIC), name="assets")  # the page's modules and map

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/health", response_model=Health, tags=["model"])
    def health() -> dict[str, Any]:
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
    def search_items(
        q: Annotated[
            str, Query(max_length=MAX_TITLE, description="Part of a title; empty lists the most rated.")
        ] = "",
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> dict[str, Any]:
        """Fuzzy, case-insensitive title search ("toy story", "godfather"), best matches first."""
        return {"query": q, "items": service.search(q, limit)}

    @app.get("/items/{item_id}", response_model=Item, responses=NOT_FOUND, tags=["items"])
    def get_item(item_id: RawIdPath) -> dict[str, Any]:
        """One item: title, year, genres and how many ratings it has."""
        return service.card(service.item_index(item_id))

    @app.get("/items/{item_id}/similar", response_model=SimilarItems, responses=NOT_FOUND, tags=["items"])
    def similar_items(
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
        item, items = service.similar(item_id, n, metric, min_ratings)
        return {"item": item, "metric": metric, "items": items}

    @app.get(
        "/users/{user_id}/recommendations",
        response_model=Recommendations,
        responses=NOT_FOUND,
        tags=["users"],
    )
    def user_recommendations(
        user_id: RawIdPath, n: Annotated[TopN, Query()] = 10, explain: bool = True
    ) -> dict[str, Any]:
        """Top-`n` unseen items for a user of the training data, with the rated items behind each."""
        user, items = service.for_user(user_id, n, explain)
        return {"user": user, "items": items}

    @app.post("/recommendations", response_model=Recommendations, responses=NOT_FOUND, tags=["users"])
    def visitor_recommendations(request: Annotated[RecommendRequest, Body()]) -> dict[str, Any]:
        """Recommendations for anyone from a few ratings (ids or titles), without retraining (fold-in)."""
        pairs = [(r.item, r.rating) for r in request.ratings]
        return {"user": None, "items": service.for_ratings(pairs, request.n, request.explain)}

    @app.post("/predict", response_model=Predictions, responses=NOT_FOUND, tags=["users"])
    def predict(request: Annotated[PredictRequest, Body()]) -> dict[str, Any]:
        """Predicted ratings for (known user, item) pairs."""
        return {"predictions": service.predict([(p.user, p.item) for p in request.pairs])}

    @app.get("/map", response_model=MapPoints, tags=["items"])
    def item_map(method: MapMethod = methods[0] if methods else "pca") -> Response:  # type: ignore[valid-type]
        """2-D coordinates of the item embeddings: all items for PCA, the most rated for t-SNE and UMAP.

        Computed on the first request for a method (seconds for t-SNE and UMAP), then cached.
        """
        if method not in methods:
            raise EmbedrecError(f"unknown map method {method!r}; choose one of {', '.join(methods)}")
        if method not in maps:
            maps[method] = json.dumps(service.item_map(method), separators=(",", ":")).encode()
        return Response(maps[method], media_type="application/json")

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Our errors become a JSON `detail`: unknown ids 404, any other bad input 422. Any other exception is
    a bug: FastAPI logs its traceback and answers 500."""

    @app.exception_handler(UnknownIdError)
    def _unknown(request: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(EmbedrecError)
    def _invalid(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One line naming the first bad field, never the input itself (it may be megabytes, or NaN)."""
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}{more}"}, status_code=422)


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
