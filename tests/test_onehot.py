"""one_hot(idx, V) @ W ≡ W[idx]: forward and backward, over random shapes; plus the measured comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedrec import compare_onehot_lookup, lookup, one_hot
from embedrec.errors import ResourceError
from embedrec.models.onehot import format_bytes


@st.composite
def table_and_indices(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    """A random (V, d) float64 table and a batch of indices into it, repeats likely when V is small."""
    v = draw(st.integers(1, 40))
    d = draw(st.integers(1, 8))
    batch = draw(st.integers(0, 30))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(v, d, generator=gen, dtype=torch.float64)
    idx = torch.randint(0, v, (batch,), generator=gen)
    return weights, idx


@settings(max_examples=60, deadline=None)
@given(table_and_indices())
def test_forward_equals_lookup(case: tuple[torch.Tensor, torch.Tensor]) -> None:
    weights, idx = case
    dense = one_hot(idx, weights.shape[0], dtype=torch.float64) @ weights  # (batch, d)
    torch.testing.assert_close(dense, lookup(weights, idx), rtol=0, atol=0)
    torch.testing.assert_close(lookup(weights, idx), weights[idx], rtol=0, atol=0)


@settings(max_examples=60, deadline=None)
@given(table_and_indices(), st.integers(0, 2**31 - 1))
def test_gradients_equal(case: tuple[torch.Tensor, torch.Tensor], seed: int) -> None:
    weights, idx = case
    upstream = torch.randn(
        len(idx), weights.shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )  # (batch, d): an arbitrary loss gradient
    w1 = weights.clone().requires_grad_(True)
    (one_hot(idx, w1.shape[0], dtype=torch.float64) @ w1 * upstream).sum().backward()
    w2 = weights.clone().requires_grad_(True)
    (lookup(w2, idx) * upstream).sum().backward()
    torch.testing.assert_close(w1.grad, w2.grad, rtol=1e-12, atol=1e-12)

    # Dense reference: row r gets the sum of the upstream rows whose index is r; untouched rows get 0.
    expected = np.zeros(tuple(weights.shape))
    np.add.at(expected, idx.numpy(), upstream.numpy())
    np.testing.assert_allclose(w2.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
    untouched = np.setdiff1d(np.arange(weights.shape[0]), idx.numpy())
    assert not w2.grad[untouched].any()


def test_repeated_index_accumulates() -> None:
    w = torch.zeros(5, 2, requires_grad=True)
    lookup(w, [3, 3, 3, 1]).sum().backward()
    assert w.grad.tolist() == [[0, 0], [1, 1], [0, 0], [3, 3], [0, 0]]


@settings(max_examples=30, deadline=None)
@given(table_and_indices())
def test_sparse_gradient_holds_only_looked_up_rows(case: tuple[torch.Tensor, torch.Tensor]) -> None:
    weights, idx = case
    dense_w = weights.clone().requires_grad_(True)
    (one_hot(idx, weights.shape[0], dtype=torch.float64) @ dense_w).pow(2).sum().backward()
    sparse_w = weights.clone().requires_grad_(True)
    lookup(sparse_w, idx, sparse=True).pow(2).sum().backward()
    assert sparse_w.grad.is_sparse
    grad = sparse_w.grad.coalesce()
    assert set(grad.indices()[0].tolist()) == set(idx.tolist())
    torch.testing.assert_close(grad.to_dense(), dense_w.grad, rtol=1e-12, atol=1e-12)


@given(st.lists(st.integers(0, 9), max_size=20))
def test_one_hot_rows(idx: list[int]) -> None:
    m = one_hot(idx, 10)
    assert m.shape == (len(idx), 10) and m.dtype == torch.float32
    assert m.sum(dim=-1).tolist() == [1.0] * len(idx)
    assert m.argmax(dim=-1).tolist() == idx if idx else True


def test_one_hot_of_all_indices_is_identity() -> None:
    # The seed's observation: one-hot of 0..V-1 is the identity, so the product gives W back.
    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(one_hot(range(6), 6), torch.eye(6))
    assert torch.equal(one_hot(range(6), 6) @ w, w)


def test_accepts_numpy_and_nd_indices() -> None:
    w = torch.arange(12.0).reshape(4, 3)
    idx = np.array([[0, 3], [2, 2]])
    assert lookup(w, idx).shape == (2, 2, 3)
    torch.testing.assert_close(one_hot(idx, 4) @ w, lookup(w, idx))


@pytest.mark.parametrize(
    ("idx", "n", "match"),
    [
        ([0, 5], 5, "index 5 is out of range for a vocabulary of 5"),
        ([-1], 5, "index -1 is out of range"),
        ([0.5], 5, "indices must be integers"),
        ([True], 5, "indices must be integers"),
        ([0], 0, "vocabulary size must be a positive integer"),
    ],
)
def test_bad_input_is_rejected(idx: list, n: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        one_hot(idx, n)


def test_lookup_rejects_non_matrix() -> None:
    with pytest.raises(ValueError, match="2-D tensor"):
        lookup(torch.zeros(3), [0])
    with pytest.raises(ValueError, match="out of range for a vocabulary of 3"):
        lookup(torch.zeros(3, 2), [3])


def test_comparison_measures_and_stops_before_the_budget() -> None:
    budget = 4 * 1024 * 1024  # 4 MiB: V=100 fits at batch 64; at V=100_000 the table (3.1 MiB) fits, the
    # one-hot matrix (24 MiB) does not
    rows = compare_onehot_lookup((100, 100_000), batch=64, dim=8, memory_budget=budget, repeats=1)
    small, big = rows
    assert small.vocab_size == 100 and small.onehot_seconds is not None and small.note == ""
    assert small.onehot_bytes == 64 * 100 * 4 + 64 * 8 * 4
    assert small.lookup_bytes == 64 * 8 + 64 * 8 * 4
    assert big.onehot_seconds is None and "skipped" in big.note and "budget" in big.note
    assert big.onehot_bytes == 64 * 100_000 * 4 + 64 * 8 * 4 and big.lookup_seconds > 0
    assert big.weight_bytes == 100_000 * 8 * 4


def test_comparison_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        compare_onehot_lookup((0,))
    with pytest.raises(ValueError, match="positive"):
        compare_onehot_lookup((10,), batch=0)


def test_comparison_refuses_a_weight_table_over_the_budget_before_allocating() -> None:
    with pytest.raises(ResourceError, match=r"vocabulary size=1,000,000,000,000 would need 116.4 TiB.*"
                       r"1.0 MiB budget.*largest vocabulary size that fits is 7,104"):  # fmt: skip
        compare_onehot_lookup((1000, 10**12), memory_budget=2**20)
    with pytest.raises(ResourceError, match="batch=100,000,000,000 would need"):
        compare_onehot_lookup((1000,), batch=10**11)
    with pytest.raises(ResourceError, match="n=10,000,000,000,000 would need"):
        one_hot([1, 2], 10**13)


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (512, 4096, 3 * 2**20, 5 * 2**30)] == [
        "512 B",
        "4.0 KiB",
        "3.0 MiB",
        "5.0 GiB",
    ]
