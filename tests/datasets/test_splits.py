"""Stratified, seeded splits: exact sizes, every class represented, no class emptied."""

from __future__ import annotations

import numpy as np
import pytest

from sparktf.datasets.splits import held_out, split
from sparktf.errors import ConfigError


def test_split_is_stratified_seeded_and_puts_validation_last() -> None:
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    s = split(labels, 0.2, 0.1, seed=3)
    assert len(s.test) == 20 and set(labels[s.test]) == {0, 1, 2}
    assert np.bincount(labels[s.test]).tolist() == [10, 6, 4]  # in proportion
    assert len(s.train) == 80 and s.n_val == held_out(80, 0.1) == 8
    assert set(labels[s.train[-s.n_val :]]) == {0, 1, 2}
    assert not set(s.train) & set(s.test) and len(set(s.train)) == 80
    again = split(labels, 0.2, 0.1, seed=3)
    assert np.array_equal(s.train, again.train) and np.array_equal(s.test, again.test)
    other = split(labels, 0.2, 0.1, seed=4)
    assert not np.array_equal(s.test, other.test)


def test_a_class_with_one_example_stays_in_training() -> None:
    labels = np.array([0] * 10 + [1] * 10 + [2])
    s = split(labels, 0.2, 0.1, seed=0)
    assert 20 in s.train and 20 not in s.test
    assert s.single == (2,)


def test_one_example_per_class_cannot_be_split() -> None:
    with pytest.raises(ConfigError, match="keeping one of each of the 3 classes"):
        split(np.array([0, 1, 2]), 0.2, 0.1, seed=0)
