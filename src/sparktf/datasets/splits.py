"""Stratified, seeded splits of labelled examples into train / validation / test.

The training order puts the validation examples last: ``prepare_images`` holds out the last
``max(1, round(n * val_fraction))`` training examples, so that many are chosen here, spread over
the classes in proportion. A class never loses its last example to a held-out split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparktf.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Positions into the labelled examples.

    Attributes:
        train: training positions, the validation ones last (``n_val`` of them).
        test: test positions (empty when the test set comes from elsewhere).
        n_val: how many of ``train``'s last positions are the validation split.
        single: classes with one example (kept for training only).
    """

    train: np.ndarray
    test: np.ndarray
    n_val: int
    single: tuple[int, ...] = ()


def held_out(n: int, fraction: float) -> int:
    """The number of examples ``fraction`` of ``n`` holds out (at least 1), as
    ``prepare_images`` counts them."""
    return max(1, round(n * fraction))


def pick_stratified(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of exactly ``k`` positions spread over the classes in proportion to their size.

    Each class's examples are shuffled and given evenly spaced keys in [0, 1) (from a random
    offset); the ``k`` smallest keys win. A class's last example gets no key (it stays).

    Raises:
        ConfigError: fewer than ``k`` examples can be taken.
    """
    keys = np.full(len(labels), np.inf)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        m = len(idx)
        keys[idx[:-1]] = (np.arange(m - 1) + rng.random()) / m
    available = int(np.isfinite(keys).sum())
    if k > available:
        raise ConfigError(
            f"cannot hold out {k} of {len(labels)} examples while keeping one of each of the "
            f"{len(np.unique(labels))} classes for training (only {available} can be taken): "
            "add examples, lower --test-fraction/--val-fraction, or give --test-data"
        )
    mask = np.zeros(len(labels), dtype=bool)
    mask[np.argsort(keys, kind="stable")[:k]] = True
    return mask


def split(labels: np.ndarray, test_fraction: float | None, val_fraction: float, seed: int) -> Split:
    """Stratified test (when ``test_fraction``) and validation splits of ``labels``.

    Raises:
        ConfigError: too few examples for the held-out splits.
    """
    rng = np.random.default_rng(seed)
    positions = np.arange(len(labels))
    test = np.zeros(0, dtype=np.int64)
    if test_fraction:
        mask = pick_stratified(labels, held_out(len(labels), test_fraction), rng)
        test, positions = positions[mask], positions[~mask]
    n_val = held_out(len(positions), val_fraction)
    val_mask = pick_stratified(labels[positions], n_val, rng)
    train = np.concatenate([rng.permutation(positions[~val_mask]), positions[val_mask]])
    classes, counts = np.unique(labels, return_counts=True)
    single = tuple(int(c) for c, n in zip(classes, counts, strict=True) if n == 1)
    return Split(train=train, test=test, n_val=n_val, single=single)
