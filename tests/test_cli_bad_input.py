"""Every verb of the command line with bad values: one line on stderr and exit 2, never a traceback.

Exit code 1 means a bug (cli/main.py turns anything but an EmbedrecError into "internal error"), so
every case here must end with 0 or 2. The first group are the 19 tracebacks the hardening run found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load

from embedrec import BiasBaseline, DotBias, GlobalMean, read_ratings
from embedrec.cli.main import app

CLI = [sys.executable, "-c", "from embedrec.cli.main import app; app()"]


def run(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: object) -> tuple[int, str]:
    """Run `embedrec ARGS` in this process through the real entry point: (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["embedrec", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as info:
        app()
    out = capsys.readouterr()
    code = info.value.code if isinstance(info.value.code, int) else (0 if info.value.code is None else 1)
    return code, out.out + out.err


def assert_refused(code: int, output: str, match: str = "") -> None:
    """Exit 2 with a one-line message (containing `match`), and no trace of a traceback."""
    assert code == 2, output
    assert "Traceback" not in output and "internal error" not in output, output
    errors = [
        line for line in output.splitlines() if line.startswith(("error:", "Error", "Usage:", "│", "╭"))
    ]
    assert errors, output
    assert match.lower() in " ".join(output.split()).lower(), output


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ratings CSV: 60 users × 40 items."""
    rng = np.random.default_rng(0)
    lines = ["user,item,rating"]
    for u in range(1, 61):
        for i in rng.choice(40, 12, replace=False):
            lines.append(f"{u},{i + 1},{rng.integers(1, 6)}")
    path = tmp_path_factory.mktemp("cli") / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def models(data_file: Path, tmp_path_factory: pytest.TempPathFactory, tamper: Callable) -> dict[str, Path]:
    """Saved models: a DotBias, a GlobalMean, and copies of the DotBias damaged (checksum recomputed)."""
    root = tmp_path_factory.mktemp("models")
    data = read_ratings(data_file)
    good = DotBias(n_factors=4, epochs=2, verbose=False).fit(data).save(root / "good")
    out = {"good": good, "mean": GlobalMean().fit(data).save(root / "mean")}
    out["baseline"] = BiasBaseline().fit(data).save(root / "baseline")
    damage = {
        "nan": lambda d: d.__setitem__("item_factors_", np.full_like(d["item_factors_"], np.nan)),
        "short": lambda d: d.__setitem__("item_factors_", d["item_factors_"][:-5]),
        "int8": lambda d: d.__setitem__("user_factors_", d["user_factors_"].astype(np.int8)),
        "indices": lambda d: d.__setitem__("seen.indices", d["seen.indices"] + 1000),
    }
    for name, fn in damage.items():
        out[name] = Path(shutil.copytree(good, root / name))
        tamper(out[name], arrays_fn=fn)
    out["users"] = Path(shutil.copytree(good, root / "users"))
    tamper(out["users"], meta_fn=lambda m: m["state"]["user_ids"]["ids"].extend(range(10**6, 10**6 + 5)))
    return out


# -- the hardening run's tracebacks, one by one -----------------------------------------------------------
def test_a_file_of_control_characters(capsys, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "seps.csv"
    path.write_bytes(b"\x1c\x1d\x1e\x1f\x1c\n\x1f")
    assert_refused(*run(capsys, monkeypatch, "info", path), "no text lines")
    assert_refused(*run(capsys, monkeypatch, "train", path, "--model", "mean", "-q"), "no text lines")


@pytest.mark.parametrize("factors", ["100000", "99999999999999999999"])
@pytest.mark.parametrize("model", ["bayes", "dotbias", "neural"])
def test_train_with_more_factors_than_memory(
    capsys, monkeypatch, data_file: Path, model: str, factors: str
) -> None:
    monkeypatch.setenv("EMBEDREC_MAX_MEMORY", "1GiB")
    code, output = run(capsys, monkeypatch, "train", data_file, "-m", model, "--factors", factors, "-q")
    assert_refused(code, output, f"n_factors={int(factors):,} would need")
    assert "the largest n_factors that fits is" in output


def test_explain_onehot_with_a_weight_table_over_the_budget(capsys, monkeypatch) -> None:
    code, output = run(capsys, monkeypatch, "explain", "onehot", "--max-vocab", 10**12, "--budget-mib", 1)
    assert_refused(code, output, "vocabulary size=1,000,000,000,000 would need 116.4 TiB")


def test_serve_a_model_it_cannot_serve(capsys, monkeypatch, models: dict[str, Path]) -> None:
    assert_refused(*run(capsys, monkeypatch, "serve", models["mean"], "--port", 0), "GlobalMean")


@pytest.mark.parametrize(
    "verb",
    [
        ("similar", "{m}", "2"),
        ("similar", "{m}", "1", "--users"),
        ("plot", "{m}", "--out", "{tmp}/map.png"),
        ("plot", "{m}", "--out", "{tmp}/map.html"),
        ("axes", "{m}"),
        ("export", "{m}", "--format", "npy", "--out", "{tmp}/out"),
    ],
    ids=lambda v: "-".join(v[:1] + v[3:4]),
)
def test_a_model_without_vectors_says_so(
    capsys, monkeypatch, models: dict[str, Path], tmp_path: Path, verb: tuple
) -> None:
    """GlobalMean and BiasBaseline learn no vectors: one line naming the model, exit 2, no output file."""
    for name in ("mean", "baseline"):
        args = [a.format(m=models[name], tmp=tmp_path) for a in verb]
        code, output = run(capsys, monkeypatch, *args)
        assert_refused(code, output, "cannot compare vectors (it learns none)")
        assert len(output.strip().splitlines()) == 1, output
        assert not list(tmp_path.iterdir())


def test_explain_factors_with_a_huge_top(capsys, monkeypatch, models: dict[str, Path]) -> None:
    assert_refused(*run(capsys, monkeypatch, "explain", "factors", models["good"], "--top", 100000), "--top")


DAMAGED = ["nan", "short", "int8", "indices", "users"]
VERBS_ON_A_MODEL = [
    ("recommend", "{m}", "--user", "1"),
    ("recommend", "{m}", "--rate", "1=5", "--rate", "2=1"),
    ("predict", "{m}", "--user", "1", "--item", "2"),
    ("explain", "{m}", "--user", "1", "--item", "2"),
    ("explain", "factors", "{m}"),
    ("similar", "{m}", "2"),
    ("evaluate", "{m}", "{data}", "--split", "random"),
    ("export", "{m}", "--format", "npy", "--out", "{tmp}/out"),
    ("axes", "{m}"),
]


@pytest.mark.parametrize("damage", DAMAGED)
@pytest.mark.parametrize("verb", VERBS_ON_A_MODEL, ids=lambda v: "-".join(v[:2]))
def test_a_tampered_model_is_refused_by_every_verb(
    capsys, monkeypatch, models: dict[str, Path], data_file: Path, tmp_path: Path, damage: str, verb: tuple
) -> None:
    args = [a.format(m=models[damage], data=data_file, tmp=tmp_path) for a in verb]
    assert_refused(*run(capsys, monkeypatch, *args), "field")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", DAMAGED)
def test_serve_refuses_a_tampered_model_at_start(
    capsys, monkeypatch, models: dict[str, Path], damage: str
) -> None:
    import uvicorn

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server started on a damaged model")

    monkeypatch.setattr(uvicorn, "run", started)
    assert_refused(*run(capsys, monkeypatch, "serve", models[damage], "--port", 0), "field")


# -- every verb with bad values ----------------------------------------------------------------------------
HUGE = "99999999999999999999"
BAD = [
    ("datasets", "--data-dir", "/proc/embedrec"),
    ("info", "{tmp}/missing.csv"),
    ("info", "no-such-dataset"),
    ("info", "{empty}"),
    ("info", "{junk}"),
    ("info", "{tmp}"),
    ("train", "{data}", "-m", "nope"),
    ("train", "{data}", "--split", "nope"),
    ("train", "{data}", "--factors", "0"),
    ("train", "{data}", "--test-fraction", "5"),
    ("train", "{data}", "-m", "dotbias", "--lr", "-1", "-q"),
    ("train", "{data}", "-m", "dotbias", "--lr", "nan", "-q"),
    ("train", "{data}", "-m", "mean", "--factors", "3", "-q"),
    ("train", "{data}", "-m", "mean", "--out", "/proc/embedrec-model", "-q"),
    ("train", "{data}", "-m", "mean", "--out", "{data}", "-q"),
    ("train", "{data}", "-m", "mean", "--split", "u1", "-q"),
    ("evaluate", "{tmp}/none", "{data}"),
    ("evaluate", "{good}", "{data}", "--split", "none"),
    ("evaluate", "{good}", "{data}", "-k", "0"),
    ("evaluate", "{mean}", "{data}", "--ranking"),
    ("predict", "{good}", "--user", "²", "--item", "1"),
    ("predict", "{good}", "--user", "1", "--item", "nope"),
    ("predict", "{good}", "--user", "NA", "--item", "1"),
    ("recommend", "{good}"),
    ("recommend", "{good}", "--user", "1", "--like", "2"),
    ("recommend", "{good}", "--user", "nope"),
    ("recommend", "{good}", "--user", "1", "-n", "0"),
    ("recommend", "{good}", "--user", "1", "--popularity", "-1"),
    ("recommend", "{good}", "--user", "1", "--popularity", "nan"),
    ("recommend", "{good}", "--rate", "x"),
    ("recommend", "{good}", "--rate", "1=abc"),
    ("recommend", "{good}", "--rate", "1=99"),
    ("recommend", "{good}", "--rate", "1=inf"),
    ("recommend", "{good}", "--like", "nope"),
    ("recommend", "{mean}", "--user", "1"),
    ("similar", "{good}", "nope"),
    ("similar", "{good}", "2", "--metric", "nope"),
    ("similar", "{good}", "2", "-n", "0"),
    ("similar", "{good}", "2", "--min-ratings", "-1"),
    ("similar", "{good}", "nope", "--users"),
    ("similar", "{baseline}", "2"),
    ("similar", "{junk}", "king"),
    ("similar", "{tmp}/none", "2"),
    ("explain", "onehot", "{good}"),
    ("explain", "onehot", "--batch", "100000000000"),
    ("explain", "onehot", "--dim", "100000000000", "--max-vocab", "1000"),
    ("explain", "onehot", "--max-vocab", "10"),
    ("explain", "factors"),
    ("explain", "{good}"),
    ("explain", "{good}", "--user", "nope", "--item", "2"),
    ("explain", "{tmp}/none", "--user", "1", "--item", "2"),
    ("explain", "{mean}", "--user", "1", "--item", "2"),
    ("plot", "{good}", "--out", "{tmp}/map.gif"),
    ("plot", "{good}", "--out", "{tmp}/map.png", "--method", "nope"),
    ("plot", "{good}", "--out", "{tmp}/map.png", "--color", "nope"),
    ("plot", "{good}", "--out", "{tmp}/map.png", "--max-points", "0"),
    ("plot", "{good}", "--out", "/proc/embedrec/map.png", "--color", "none"),
    ("plot", "{good}", "--out", "{tmp}", "--color", "none"),
    ("plot", "{tmp}/none", "--out", "{tmp}/map.png"),
    ("plot", "{baseline}", "--out", "{tmp}/map.png"),
    ("axes", "{good}", "-k", "1000"),
    ("axes", "{good}", "--max-items", "1"),
    ("axes", "{tmp}/none"),
    ("export", "{good}", "--format", "nope"),
    ("export", "{good}", "--out", "/proc/embedrec"),
    ("export", "{tmp}/none"),
    ("serve", "{tmp}/none"),
    ("serve", "{good}", "--port", "70000"),
    ("demo", "--port", "abc"),
    # sizes far past anything that exists: clipped to what there is, or refused before allocating
    ("recommend", "{good}", "--user", "1", "-n", HUGE),
    ("recommend", "{good}", "--rate", "1=5", "-n", HUGE),
    ("similar", "{good}", "2", "-n", HUGE),
    ("similar", "{good}", "1", "--users", "-n", HUGE),
    ("evaluate", "{good}", "{data}", "--ranking", "-k", HUGE),
    ("plot", "{good}", "--out", "{tmp}/big.svg", "--max-points", HUGE, "--labels", HUGE, "--color", "none"),
    ("axes", "{good}", "-n", HUGE, "--max-items", HUGE),
    ("explain", "factors", "{good}", "--factors", HUGE),
    ("explain", "onehot", "--batch", HUGE),
    ("explain", "onehot", "--max-vocab", HUGE),
    ("train", "{data}", "-m", "dotbias", "--epochs", "1", "--factors", HUGE, "-q"),
    ("nope",),
]


@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a)[:60])
def test_every_verb_with_bad_values_says_why_in_one_line(
    capsys, monkeypatch, models: dict[str, Path], data_file: Path, tmp_path: Path, args: tuple
) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 4)
    names = {
        "data": data_file,
        "tmp": tmp_path,
        "empty": tmp_path / "empty.csv",
        "junk": tmp_path / "junk.bin",
    }
    names.update({k: models[k] for k in ("good", "mean", "baseline")})
    code, output = run(capsys, monkeypatch, *(a.format(**names) for a in args))
    if os.environ.get("SHOW_CLI"):
        print(code, " ".join(args), "=>", output.strip().splitlines()[-1:], file=sys.__stderr__)
    assert code in (0, 2), output
    assert "Traceback" not in output and "internal error" not in output, output
    leftovers = [
        p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-") or p.suffix in (".gif", ".png")
    ]
    assert not leftovers, leftovers


def test_an_unreadable_argument_type_is_a_usage_error(capsys, monkeypatch, data_file: Path) -> None:
    assert_refused(*run(capsys, monkeypatch, "train", data_file, "--factors", "many"), "--factors")


@pytest.mark.slow
def test_ctrl_c_during_training_stops_cleanly_and_writes_nothing(tmp_path: Path, data_file: Path) -> None:
    """SIGINT while the progress bar runs: exit 130, one line, no model folder, no temporaries."""
    import os
    import signal

    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "100"}  # a progress bar even without a terminal
    out = tmp_path / "model"
    proc = subprocess.Popen(
        [*CLI, "train", str(data_file), "-m", "dotbias", "--epochs",
         "100000", "--split", "none", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background runner ignores it
    )  # fmt: skip
    seen = b""
    assert proc.stderr is not None
    while b"epochs" not in seen:  # polls the progress bar (blocking reads, no sleeps); the bar starts
        chunk = proc.stderr.read1(4096)  # within seconds, and a dead process ends the loop
        assert chunk, "the training ended before it could be interrupted"
        seen += chunk
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    text = (seen + rest).decode(errors="replace")
    assert "interrupted" in text and "Traceback" not in text
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_json_of_a_damaged_model_names_the_field(models: dict[str, Path]) -> None:
    meta = json.loads((models["short"] / "model.json").read_text())
    arrays = load((models["short"] / meta["weights_file"]).read_bytes())
    assert arrays["item_factors_"].shape[0] == len(meta["state"]["item_ids"]["ids"]) - 5
