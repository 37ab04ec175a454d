"""zoo.training.batches: the array pipeline zoo.finetune trains on keeps
fit(x, y, batch_size, shuffle)'s rules: every example once per epoch, full
batches then the partial one, a new order each epoch (reproducible from the
seed), the stored order without shuffling, floats as floatx."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.training.batches import aligned_steps_per_execution, epoch_batches
from zoo.training.speed import batches_per_epoch


def _data(n, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    return x, np.arange(n, dtype=np.int64)  # y is each example's index


def _epochs(ds, count, n, batch):
    """``count`` epochs from ONE iterator, as fit(steps_per_epoch=...) reads them."""
    it, steps = iter(ds), batches_per_epoch(np.empty(n), batch)
    return [[tuple(t.numpy() for t in next(it)) for _ in range(steps)] for _ in range(count)]


@pytest.mark.parametrize("n,batch", [(100, 16), (64, 16), (5, 8), (1, 1), (33, 32)])
@pytest.mark.parametrize("chunk_bytes", [1, 300, 1 << 20])
def test_every_example_once_per_epoch_in_fit_sized_batches(n, batch, chunk_bytes):
    x, y = _data(n)
    ds = epoch_batches(x, y, batch_size=batch, chunk_bytes=chunk_bytes)
    full, rest = divmod(n, batch)
    assert batches_per_epoch(x, batch) == full + (1 if rest else 0)
    for epoch in _epochs(ds, 3, n, batch):
        sizes = [len(by) for _, by in epoch]
        assert sizes == [batch] * full + ([rest] if rest else [])
        seen = np.concatenate([by for _, by in epoch])
        assert sorted(seen.tolist()) == list(range(n))
        for bx, by in epoch:  # x rows travel with their labels
            np.testing.assert_array_equal(bx, x[by])


def test_a_new_iterator_draws_new_orders():
    # fit's second phase iterates the same dataset again
    x, y = _data(100)
    ds = epoch_batches(x, y, batch_size=10, seed=2)
    first, second = (np.concatenate([by for _, by in _epochs(ds, 1, 100, 10)[0]])
                     for _ in range(2))
    assert not np.array_equal(first, second)


def test_new_order_each_epoch_same_orders_for_the_same_seed():
    x, y = _data(200)
    first = _epochs(epoch_batches(x, y, batch_size=20, seed=3), 3, 200, 20)
    again = _epochs(epoch_batches(x, y, batch_size=20, seed=3), 3, 200, 20)
    other = _epochs(epoch_batches(x, y, batch_size=20, seed=4), 1, 200, 20)
    orders = [np.concatenate([by for _, by in e]) for e in first]
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(200))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(np.concatenate([by for _, by in a]),
                                      np.concatenate([by for _, by in b]))
    assert not np.array_equal(orders[0], np.concatenate([by for _, by in other[0]]))


def test_chunking_does_not_change_the_batches():
    x, y = _data(90)
    whole = _epochs(epoch_batches(x, y, batch_size=8, seed=1), 2, 90, 8)
    pieces = _epochs(epoch_batches(x, y, batch_size=8, seed=1, chunk_bytes=1), 2, 90, 8)
    for a, b in zip(whole, pieces):
        for (ax, ay), (bx, by) in zip(a, b):
            np.testing.assert_array_equal(ay, by)
            np.testing.assert_array_equal(ax, bx)


def test_numpy_integer_batch_size():
    x, y = _data(10)
    bx, by = next(iter(epoch_batches(x, y, batch_size=np.int64(4), shuffle=False)))
    np.testing.assert_array_equal(by, [0, 1, 2, 3])


def test_without_shuffle_the_stored_order():
    x, y = _data(50)
    for epoch in _epochs(epoch_batches(x, y, batch_size=16, shuffle=False), 2, 50, 16):
        np.testing.assert_array_equal(np.concatenate([by for _, by in epoch]), np.arange(50))


def test_floats_become_floatx_labels_keep_their_type():
    x = np.random.default_rng(0).random((10, 2))  # float64
    y = np.arange(10, dtype=np.int32)
    bx, by = next(iter(epoch_batches(x, y, batch_size=4)))
    assert bx.dtype.name == "float32" and by.dtype.name == "int32"
    bx, by = next(iter(epoch_batches(x, x.astype(np.float16), batch_size=4)))
    assert by.dtype.name == "float32"


@pytest.mark.parametrize("bad,message", [
    (dict(y=np.zeros(9)), "x has 10 examples but y has 9"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(batch_size=2.5), "batch_size must be a positive integer"),
    (dict(batch_size=True), "batch_size must be a positive integer"),
    (dict(x=np.zeros((0, 2), np.float32), y=np.zeros(0)), "no training examples"),
])
def test_bad_input_names_the_problem(bad, message):
    kwargs = dict(x=np.zeros((10, 2), np.float32), y=np.zeros(10), batch_size=4) | bad
    with pytest.raises(ValueError, match=message):
        epoch_batches(**kwargs)


@pytest.mark.parametrize("spe,batches,chosen,expected", [
    (32, 64, True, 32), (32, 322, True, 23), (32, 37, True, None), (4, 10, False, None),
    (5, 10, False, 5), (1, 7, False, 1), (32, 20, True, 20), (16, 24, True, 12),
])
def test_executions_tile_the_epoch(spe, batches, chosen, expected):
    got = aligned_steps_per_execution(spe, batches, chosen)
    assert got == expected
    if got is not None:
        assert batches % got == 0
