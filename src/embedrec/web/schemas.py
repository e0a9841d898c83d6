"""Request and response shapes of the HTTP API; the bounds here are what the OpenAPI schema promises."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

MAX_N = 1000  # longest list of results one request may ask for
MAX_RATINGS = 1000  # most ratings (or prediction pairs) in one request body
MAX_TITLE = 200  # longest title or search query accepted

Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE)]
RawId = StrictInt | Title  # a raw id as the data spells it, or (where noted) a movie title
TopN = Annotated[int, Field(ge=1, le=MAX_N, description="How many results to return (1–1000).")]
Metric = Literal["cosine", "dot", "euclidean"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Item(BaseModel):
    """One catalogue entry as the page shows it."""

    id: int | str
    title: str
    year: int | None = None
    genres: list[str] = []
    n_ratings: int = Field(description="How many training ratings the item has.")


class ScoredItem(Item):
    score: float = Field(
        description="Recommendations: the model's score (a predicted rating for rating models); "
        "neighbours: the similarity."
    )
    stars: float | None = Field(
        None, description="Recommendations: the predicted rating, when the model or its rating model has one."
    )


class Contribution(BaseModel):
    """One reason behind a recommendation: a rated item that pulls it up (or down)."""

    id: int | str
    title: str
    rating: float
    weight: float = Field(description="How much this rating contributes; larger is a stronger reason.")


class Recommendation(ScoredItem):
    because: list[Contribution] = []


class ItemList(BaseModel):
    query: str
    items: list[Item]


class Neighbour(ScoredItem):
    """A nearby item: `score` is the similarity (larger is closer, for every metric)."""

    distance: float | None = Field(
        None,
        description="With metric=euclidean: the distance between the two vectors (smaller is closer); "
        "`score` is minus it.",
    )


class SimilarItems(BaseModel):
    item: Item
    metric: Metric
    items: list[Neighbour]


class Matched(BaseModel):
    """Which item a title in the request was taken to mean."""

    query: str = Field(description="The title as the request gave it.")
    id: int | str
    title: str
    how: Literal["exact", "words", "fuzzy"] = Field(
        description="exact: the title itself; words: the most rated title containing every word of it; "
        "fuzzy: the closest spelling (the most rated of equally close ones)."
    )


MATCHED = Field([], description="For each item given by title, the item it was taken to mean.")


class Recommendations(BaseModel):
    user: int | str | None = Field(None, description="The known user, or null for a visitor's ratings.")
    items: list[Recommendation]
    matched: list[Matched] = MATCHED


class RatingIn(_Strict):
    item: RawId = Field(
        description="A raw item id, or a title such as 'toy story' (fuzzy, case-insensitive)."
    )
    rating: Annotated[float, Field(allow_inf_nan=False, description="Inside the model's rating scale.")]


class RecommendRequest(_Strict):
    ratings: Annotated[list[RatingIn], Field(min_length=1, max_length=MAX_RATINGS)]
    n: TopN = 10
    explain: bool = Field(True, description="Attach the rated items behind each recommendation.")


class Pair(_Strict):
    user: RawId
    item: RawId


class PredictRequest(_Strict):
    pairs: Annotated[list[Pair], Field(min_length=1, max_length=MAX_RATINGS)]


class Prediction(BaseModel):
    user: int | str
    item: int | str
    rating: float


class Predictions(BaseModel):
    predictions: list[Prediction]
    matched: list[Matched] = MATCHED


class MapPoints(BaseModel):
    """Columnar 2-D coordinates of the item map (columns are aligned by position)."""

    method: str
    note: str = Field(description="What was projected and how.")
    n_items: int = Field(description="Items in the catalogue; the map may show fewer (most rated first).")
    ids: list[int | str]
    x: list[float]
    y: list[float]
    titles: list[str]
    genres: list[str]
    n_ratings: list[int]


class Scale(BaseModel):
    low: float
    high: float
    step: float | None


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    version: str
    n_users: int
    n_items: int
    n_factors: int | None
    scale: Scale
    map_methods: list[str]


class Problem(BaseModel):
    detail: str
