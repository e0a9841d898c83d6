"""CLI verbs using a trained model: `recommend` (a known user, or a new one from a few ratings), `similar`.

embedrec recommend DIR --user 196 -n 10
embedrec recommend DIR --rate "Toy Story=5" --rate "Fargo=4" --rate "Scream=1"
embedrec recommend DIR --like "Star Wars" --like "Return of the Jedi"
embedrec similar DIR "Star Wars" -n 10
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console, Group
from rich.markup import escape

from embedrec.cli.tables import FitTable
from embedrec.data.titles import TitleMatch
from embedrec.errors import DataError, EmbedrecError
from embedrec.models.base import Estimator
from embedrec.models.persist import load_model
from embedrec.query.recommender import Recommender
from embedrec.query.wordeval import load_embeddings, word_key

console = Console()

EXAMPLES = """
Examples:

  embedrec recommend models/ml100k --user 196 -n 10

  embedrec recommend models/ml100k --rate "Toy Story=5" --rate "Fargo=4" --rate "Scream=1"

  embedrec similar models/ml100k "Star Wars" -n 10
"""

DEMO_RATINGS = {"Toy Story": 5.0, "Fargo": 4.0, "Scream": 1.0}
# famous titles for the demo's neighbours, each with the spelling of each MovieLens release
DEMO_TITLES = (("Star Wars: Episode IV - A New Hope (1977)", "Star Wars (1977)"), ("Pulp Fiction (1994)",))


def register(cli: typer.Typer) -> None:
    """Add the `recommend` and `similar` verbs to the CLI."""
    cli.command("recommend", epilog=EXAMPLES)(recommend)
    cli.command("similar", epilog=EXAMPLES)(similar)


def recommend(
    model_dir: Annotated[Path, typer.Argument(help="A saved model directory.")],
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Raw id of a user the model knows.")
    ] = None,
    rate: Annotated[
        list[str] | None,
        typer.Option("--rate", "-r", help='A new user\'s rating, "TITLE or ID=RATING" (repeat it).'),
    ] = None,
    like: Annotated[
        list[str] | None,
        typer.Option("--like", "-l", help="An item a new user liked, no rating (repeat it)."),
    ] = None,
    n: Annotated[int, typer.Option("-n", help="How many recommendations.", min=1)] = 10,
    popularity: Annotated[
        float | None,
        typer.Option(
            help="Weight of the log-popularity prior in the ranking (0 = the model's score alone); "
            "default: 1 for rating models, 0 for ranking models.",
            min=0,
        ),
    ] = None,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Also show items the user already rated.")
    ] = False,
) -> None:
    """Top-N recommendations for a known user (--user) or a new one (--rate / --like), with titles."""
    given = sum(x is not None and x != [] for x in (user, rate, like))
    if given != 1:
        raise typer.BadParameter("give exactly one of --user, --rate (repeatable) or --like (repeatable)")
    rec = Recommender.load(model_dir)
    if user is not None:
        ids, scores = rec.recommend(user, n=n, exclude_seen=not include_seen, popularity=popularity)
        title = f"Top {n} for user {escape(user)}"
    elif rate:
        ratings = [parse_rating(text) for text in rate]
        raw = resolve(rec, [item for item, _ in ratings])
        ids, scores = rec.recommend_for_ratings(
            [(r, v) for r, (_, v) in zip(raw, ratings, strict=True)], n=n, popularity=popularity
        )
        title = "Top {} for a new user who rated {}".format(
            n, escape(", ".join(f"{t}={r:g}" for t, r in ratings))
        )
    else:
        ids, scores = rec.recommend_from_items(resolve(rec, like), n=n)
        title = "Top {} for a new user who liked {}".format(n, escape(", ".join(like)))
        console.print(items_table(rec, ids, scores, title=title, score="preference"))
        return
    weight = rec.popularity if popularity is None else popularity
    caption = PRIOR_CAPTION if weight > 0 else None
    score = "predicted" if rec.model.objective == "rating" else "score"
    console.print(items_table(rec, ids, scores, title=title, score=score, caption=caption))


def similar(
    source: Annotated[
        Path, typer.Argument(help="A saved model directory (or a vectors file, or a words model).")
    ],
    query: Annotated[
        str, typer.Argument(help="An item title or raw id (a user id with --users), or a word.")
    ],
    n: Annotated[int, typer.Option("-n", help="How many neighbours.", min=1)] = 10,
    metric: Annotated[str, typer.Option(help="cosine, dot or euclidean.")] = "cosine",
    users: Annotated[bool, typer.Option("--users", help="Find similar users instead of items.")] = False,
    min_ratings: Annotated[
        int | None,
        typer.Option(
            help="Leave out items with fewer training ratings (their vectors are noise); "
            "default: 20, or the median item's count when lower.",
            min=0,
        ),
    ] = None,
) -> None:
    """The items (or users) whose learned vectors are closest to one item's (or user's), or a word's."""
    model = None if source.is_file() else load_model(source)
    if model is None or not isinstance(model, Estimator):  # a vectors file or a words model
        _similar_vectors(source, query, n, metric)
        return
    rec = Recommender(model)
    if users:
        ids, sims = rec.similar_users(query, n=n, metric=metric)
        table = FitTable(f"Users most like user {escape(query)} ({metric})")
        table.add_column("#", numeric=True, style="dim")
        table.add_column("user", numeric=True)
        table.add_column(SCORE_HEADINGS.get(metric, metric), numeric=True)
        for rank, (u, s) in enumerate(zip(ids, sims, strict=True), 1):
            table.add_row(str(rank), str(u), format_similarity(s, metric))
        console.print(table)
        return
    anchor = rec.catalogue.index(resolve(rec, [query])[0])
    ids, sims = rec.similar_items(
        rec.catalogue.ids.raw_id(anchor), n=n, metric=metric, min_ratings=min_ratings
    )
    name = rec.catalogue.titles[anchor]
    title = f"Most similar to {escape(name)} ({metric})"
    console.print(items_table(rec, ids, sims, title=title, score=metric))


# a neighbour's score under its metric's heading; euclidean is shown as the distance (smaller is closer)
SCORE_HEADINGS = {"cosine": "cosine", "dot": "dot", "euclidean": "distance"}


def format_similarity(value: float, metric: str) -> str:
    """A neighbour's score as shown: the library's minus-distance for euclidean becomes the distance."""
    return f"{-value:.3f}" if metric == "euclidean" else f"{value:.3f}"


def resolve(rec: Recommender, queries: list[Any]) -> list[Any]:
    """The raw ids that items or titles mean, each title's match echoed ('fargo' → Fargo (1996))."""
    matches = [rec.catalogue.match(q) for q in queries]
    for m in matches:
        echo_match(m)
    return [rec.catalogue.ids.raw_id(m.index) for m in matches]


def echo_match(match: TitleMatch) -> None:
    """One dim line saying which title a query was taken to mean (nothing for a raw id)."""
    if match.how != "id":
        console.print(f"[dim]matched {escape(match.describe())}[/]", highlight=False)


def parse_rating(text: str) -> tuple[Any, float]:
    """'Toy Story=5' -> ('Toy Story', 5.0); the item part may be a title or a raw id."""
    item, sep, value = str(text).rpartition("=")
    if not sep or not item.strip():
        raise DataError(f'expected "TITLE=RATING", got {text!r}', field="rate")
    try:
        rating = float(value)
    except ValueError:
        raise DataError(f"rating {value.strip()!r} in {text!r} is not a number", field="rate") from None
    if not math.isfinite(rating):
        raise DataError(f"rating in {text!r} is not a finite number", field="rate")
    item = item.strip()
    return (int(item) if item.isdigit() else item), rating


PRIOR_CAPTION = "ranked by predicted rating plus a popularity prior (--popularity 0: rating alone)"


def items_table(
    rec: Recommender,
    ids: np.ndarray,
    scores: np.ndarray,
    *,
    title: str,
    score: str,
    caption: str | None = None,
    stars: np.ndarray | None = None,
) -> FitTable:
    """A table of items with title, year, genres and score (`score` names the kind of score: a
    neighbour metric's name gives its heading, and euclidean is shown as a distance), and predicted
    stars when given."""
    cat = rec.catalogue
    table = FitTable(title, caption=caption)
    table.add_column("#", numeric=True, style="dim")
    table.add_column("item", numeric=True)
    table.add_column("title", min_width=16)
    has_year = any(y is not None for y in cat.years)
    if has_year:
        table.add_column("year", numeric=True)
    if cat.has_genres:
        table.add_column("genres", style="dim", drop=1)
    table.add_column(SCORE_HEADINGS.get(score, score), numeric=True)
    if stars is not None:
        table.add_column("predicted", numeric=True)
    for rank, (raw, value) in enumerate(zip(ids, scores, strict=True), 1):
        i = cat.ids.index(raw)
        row = [str(rank), escape(str(raw)), escape(cat.titles[i])]
        if has_year:
            row.append("" if cat.years[i] is None else str(cat.years[i]))
        if cat.has_genres:
            row.append(escape(", ".join(cat.genres[i])))
        row.append(format_similarity(value, score))
        if stars is not None:
            row.append(f"{stars[rank - 1]:.2f}★")
        table.add_row(*row)
    return table


def demo_tail(rec: Recommender, n: int = 5) -> Group:
    """What `embedrec demo` shows last: a made-up user's recommendations and neighbours of famous titles."""
    parts: list[Any] = []
    known = {}
    for item, rating in DEMO_RATINGS.items():
        try:
            rec.catalogue.index(item)
        except EmbedrecError:  # this catalogue lacks that title
            continue
        known[item] = rating
    if known:
        user = rec.fold_in(known)
        ids, scores = rec.recommend_for(user, n=n)
        label = escape(", ".join(f"{t}={r:g}" for t, r in known.items()))
        caption = PRIOR_CAPTION if rec.popularity > 0 else None
        title = f"A new user who rated {label}"
        if rec.model.objective == "rating":
            table = items_table(rec, ids, scores, title=title, score="predicted", caption=caption)
        else:
            table = items_table(rec, ids, scores, title=title, score="score", stars=rec.stars(user, ids))
            if rec.ratings is not None:
                table.caption = f"ranked by {type(rec.model).__name__}, stars by {type(rec.ratings).__name__}"
        parts.append(table)
    for spellings in DEMO_TITLES:
        anchor = None
        for item in spellings:
            try:
                anchor = rec.catalogue.index(item)
                break
            except EmbedrecError:
                continue
        if anchor is None:
            continue
        ids, sims = rec.similar_items(rec.catalogue.ids.raw_id(anchor), n=n)
        parts.append(
            items_table(
                rec,
                ids,
                sims,
                title=f"Most similar to {escape(rec.catalogue.titles[anchor])}",
                score="cosine",
            )
        )
    return Group(*parts)


def _similar_vectors(path: Path, query: str, n: int, metric: str) -> None:
    """Neighbours in a vectors file (word2vec or GloVe) or a words model (Word2Vec, TextClassifier)."""
    table = load_embeddings(path)
    query = word_key(table, query)
    keys, scores = table.similar(query, n=n, metric=metric)
    out = FitTable(f"Nearest to {escape(query)} ({metric})", caption=escape(f"from {table.source}"))
    out.add_column("#", numeric=True, style="dim")
    out.add_column("key")
    out.add_column(SCORE_HEADINGS.get(metric, metric), numeric=True)
    for rank, (key, score) in enumerate(zip(keys, scores, strict=True), 1):
        out.add_row(str(rank), escape(str(key)), format_similarity(score, metric))
    console.print(out)


cli = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(cli)
