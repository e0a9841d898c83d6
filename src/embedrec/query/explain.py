"""`Explanation`: why a model scores an item for a user, as terms that add up to the score exactly.

The terms come from the estimator (`explain_indices`): biases, each rated item's share of the user's
vector, a prior and a rest. For rating models each term is also given in stars: the non-global terms
share the distance between link(global bias) and the predicted rating in proportion to their values,
so the stars add up to the predicted rating exactly too and keep each term's sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table

from embedrec.data.catalogue import Catalogue
from embedrec.models.base import Term

GLOBAL = "global bias"  # the term whose stars are link(its value) rather than a share
SHOWN = 5  # rated items shown by __str__ and the rich table; the frame holds them all


@dataclass(frozen=True, eq=False)
class Explanation:
    """The terms behind one score: `terms` has columns term, item, title, rating, value (score units)
    and, for rating models, stars (rating units); they sum to `score` and `prediction` respectively."""

    user: Any  # raw user id, or None for a folded-in user
    item: Any
    title: str
    score: float
    prediction: float | None  # the predicted rating, for rating models
    terms: pd.DataFrame

    @classmethod
    def build(
        cls,
        user: Any,
        item: Any,
        catalogue: Catalogue,
        terms: Sequence[Term],
        score: float,
        link: Callable[[np.ndarray], np.ndarray] | None,
    ) -> Explanation:
        """Attach raw ids, titles and (given the model's link) stars to an estimator's terms."""
        rows = [
            {
                "term": t.kind,
                "item": None if t.item is None else catalogue.ids.raw_id(t.item),
                "title": "" if t.item is None else catalogue.titles[t.item],
                "rating": np.nan if t.rating is None else t.rating,
                "value": t.value,
            }
            for t in terms
        ]
        frame = pd.DataFrame(rows, columns=["term", "item", "title", "rating", "value"])
        prediction = None
        if link is not None:
            prediction = float(link(np.float32(score)))
            is_global = (frame["term"] == GLOBAL).to_numpy()
            frame["stars"] = _stars(frame["value"].to_numpy(np.float64), is_global, score, prediction, link)
        return cls(user, item, catalogue.titles[catalogue.ids.index(item)], float(score), prediction, frame)

    @property
    def rated(self) -> pd.DataFrame:
        """The rated (or liked) items' terms, largest |contribution| first."""
        mask = self.terms["item"].notna()
        column = "stars" if "stars" in self.terms else "value"
        out = self.terms[mask]
        return out.iloc[np.argsort(-np.abs(out[column].to_numpy()), kind="stable")].reset_index(drop=True)

    def _headline(self) -> str:
        who = "a new user" if self.user is None else f"user {self.user}"
        if self.prediction is not None:
            return f"{who} × {self.title}: predicted {self.prediction:.2f}"
        return f"{who} × {self.title}: score {self.score:.3f}"

    def _lines(self) -> list[tuple[str, float]]:
        """(label, amount) per shown term: stars for rating models, score units otherwise."""
        column = "stars" if "stars" in self.terms else "value"
        fixed = self.terms[self.terms["item"].isna()]
        rated = self.rated
        lines = [(str(r.term), float(getattr(r, column))) for r in fixed.itertuples()]
        for r in rated.head(SHOWN).itertuples():
            label = f"{r.title} ({r.rating:g})" if np.isfinite(r.rating) else str(r.title)
            lines.append((label, float(getattr(r, column))))
        rest = float(rated[column].iloc[SHOWN:].sum())
        if len(rated) > SHOWN:
            lines.append((f"{len(rated) - SHOWN} other items", rest))
        return lines

    def __str__(self) -> str:
        unit = "★" if self.prediction is not None else ""
        body = "\n".join(f"  {amount:+7.3f}{unit}  {label}" for label, amount in self._lines())
        return f"{self._headline()}\n{body}"

    def __rich__(self) -> Group:
        table = Table(title=self._headline(), title_justify="left")
        table.add_column("because of", overflow="fold")
        table.add_column("stars" if self.prediction is not None else "score", justify="right", no_wrap=True)
        for label, amount in self._lines():
            table.add_row(label, f"{amount:+.3f}")
        return Group(table)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{_escape(label)}</td><td style='text-align:right'>{amount:+.3f}</td></tr>"
                       for label, amount in self._lines())  # fmt: skip
        return f"<table><caption>{_escape(self._headline())}</caption>{rows}</table>"


class Reason(NamedTuple):
    """A rated item that raises a score: raw id, title, the user's rating (None if only liked), and its
    contribution (stars for rating models, score units otherwise)."""

    item: Any
    title: str
    rating: float | None
    weight: float


def top_reasons(
    terms_per_item: Sequence[Sequence[Term]],
    catalogue: Catalogue,
    link: Callable[[np.ndarray], np.ndarray] | None,
    k: int,
) -> list[list[Reason]]:
    """Per item, the `k` rated items that raise its score most, largest first: the positive head of
    `Explanation.rated`, from the terms without building a frame and with the link applied once for all
    items (the web app asks this for every card of a page)."""
    scales = [1.0] * len(terms_per_item)
    if link is not None:
        scores = [sum(t.value for t in terms) for terms in terms_per_item]
        base_scores = [sum(t.value for t in terms if t.kind == GLOBAL) for terms in terms_per_item]
        preds = np.asarray(link(np.asarray(scores, np.float32)), np.float64).reshape(-1)
        bases = np.asarray(link(np.asarray(base_scores, np.float32)), np.float64).reshape(-1)
        scales = [
            _scale(score, base_score, float(pred), float(base) if _has_global(terms) else 0.0, link)
            for score, base_score, pred, base, terms in zip(
                scores, base_scores, preds, bases, terms_per_item, strict=True
            )
        ]
    out = []
    for terms, scale in zip(terms_per_item, scales, strict=True):
        rated = sorted(
            ((t.value * scale, t) for t in terms if t.item is not None),
            key=lambda pair: -abs(pair[0]),  # stable, as Explanation.rated
        )
        out.append(
            [
                Reason(catalogue.ids.raw_id(int(t.item)), catalogue.titles[int(t.item)], t.rating, float(w))
                for w, t in [(w, t) for w, t in rated if w > 0][:k]  # ids looked up for the k shown only
            ]
        )
    return out


def _has_global(terms: Sequence[Term]) -> bool:
    return any(t.kind == GLOBAL for t in terms)


def _scale(
    score: float, base_score: float, prediction: float, base: float, link: Callable[[np.ndarray], np.ndarray]
) -> float:
    """Stars per score unit of the non-global terms: they share prediction - link(global) in proportion."""
    rest = score - base_score
    if abs(rest) > 1e-9:
        return (prediction - base) / rest
    eps = 1e-3  # the derivative of the link at the score
    return float(link(np.float32(score + eps)) - link(np.float32(score - eps))) / (2 * eps)


def _stars(
    values: np.ndarray,
    is_global: np.ndarray,
    score: float,
    prediction: float,
    link: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Each term in rating units: link(global) for the global bias, the rest proportional to their values."""
    base_score = float(values[is_global].sum())
    base = float(link(np.float32(base_score))) if is_global.any() else 0.0
    return np.where(is_global, base, values * _scale(score, base_score, prediction, base, link))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
