"""The shared training loop: schedules, divergence, progress output, sparse path, thread hygiene."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import embedrec
from embedrec import DivergenceError, DotBias, Interactions
from embedrec.models.training import SCHEDULES, TrainConfig


@pytest.fixture(scope="module")
def data() -> Interactions:
    rng = np.random.default_rng(0)
    cells = rng.choice(80 * 60, 3000, replace=False)
    users, items = cells // 60, cells % 60
    ratings = np.clip(np.round(3 + np.sin(users) + np.cos(items) + rng.normal(0, 0.3, 3000)), 1, 5)
    return Interactions.from_arrays(users, items, ratings)


def test_schedules_have_the_documented_shape() -> None:
    one = SCHEDULES["onecycle"]
    assert one(0.0) == pytest.approx(0.04) and one(0.25) == pytest.approx(1.0) and one(1.0) < 1e-3
    assert max(one(x / 100) for x in range(101)) == pytest.approx(1.0)
    assert SCHEDULES["cosine"](0.0) == pytest.approx(1.0) and SCHEDULES["cosine"](1.0) < 1e-3
    assert SCHEDULES["constant"](0.7) == 1.0


def test_config_rejects_bad_values_listing_the_choices() -> None:
    with pytest.raises(ValueError, match="'onecycle', 'cosine', 'constant'"):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError, match="threads"):
        TrainConfig(threads=0)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1)


def test_huge_learning_rate_raises_divergence_error_suggesting_a_fix(data: Interactions) -> None:
    with pytest.raises(DivergenceError, match="lower the learning rate"):
        DotBias(lr=1e20, epochs=3, reg=0.0, verbose=False).fit(data)


def test_verbose_false_is_silent_and_verbose_shows_a_bar(data: Interactions, capsys) -> None:
    DotBias(epochs=2, verbose=False).fit(data)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    DotBias(epochs=2, verbose=True).fit(data, data)
    out = capsys.readouterr()
    assert out.out == ""  # the bar goes to stderr so stdout stays clean for pipes
    assert "valid RMSE" in out.err and "2/2" in out.err


def test_sparse_gradients_learn_as_well_as_dense(data: Interactions) -> None:
    dense = DotBias(n_factors=8, epochs=8, verbose=False).fit(data)
    sparse = DotBias(n_factors=8, epochs=8, sparse=True, verbose=False).fit(data)
    err = {
        name: embedrec.rmse(data.ratings, m.predict(data.users, data.items, raw=False))
        for name, m in (("dense", dense), ("sparse", sparse))
    }
    assert err["sparse"] < err["dense"] * 1.1 + 0.02, err


def test_training_restores_torch_threads_and_global_rng(data: Interactions) -> None:
    before_threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DotBias(epochs=1, verbose=False).fit(data)
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.rand(3), expected)  # fit seeded its own generator, not the global one


def test_history_records_each_epoch(data: Interactions) -> None:
    model = DotBias(epochs=4, verbose=False).fit(data, data)
    hist = model.history_
    assert len(hist.train_loss) == len(hist.valid_rmse) == len(hist.epoch_seconds) == 4 and hist.seconds > 0
    assert sum(hist.epoch_seconds) <= hist.seconds
    assert hist.train_loss[-1] < hist.train_loss[0]


def _u1_rmse(ml100k_dir, model) -> float:
    train, test = embedrec.predefined_split(ml100k_dir, "u1")
    model.fit(train)
    return embedrec.rmse(test.ratings, model.predict(test.users, test.items, raw=False))


@pytest.mark.slow
def test_compiled_step_learns_what_the_plain_step_learns(ml100k_dir) -> None:
    """torch.compile fuses the step's kernels (the GPU path's option); tested here on the CPU."""
    plain = _u1_rmse(ml100k_dir, DotBias(verbose=False))
    compiled = _u1_rmse(ml100k_dir, DotBias(compile=True, verbose=False))
    assert abs(compiled - plain) < 0.003, (compiled, plain)


@pytest.mark.slow
def test_mixed_precision_learns_what_float32_learns(ml100k_dir) -> None:
    """bfloat16 autocast runs NeuralCF's MLP in half the bits; the test RMSE stays within noise."""
    plain = _u1_rmse(ml100k_dir, embedrec.NeuralCF(verbose=False))
    mixed = _u1_rmse(ml100k_dir, embedrec.NeuralCF(mixed_precision=True, verbose=False))
    assert abs(mixed - plain) < 0.005, (mixed, plain)


def test_config_takes_only_booleans_for_switches() -> None:
    with pytest.raises(ValueError, match="compile must be True or False"):
        TrainConfig(compile="yes")
