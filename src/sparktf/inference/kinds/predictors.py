"""The two ways a loaded model is called: a Keras model, or a TensorFlow function."""

from __future__ import annotations

from typing import Any

import numpy as np


class KerasPredictor:
    """A Keras model fed float batches."""

    takes_bytes = False

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, batch: Any) -> np.ndarray:
        out = self.model.predict_on_batch(batch)
        if isinstance(out, (list, tuple)):
            out = out[0]
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out).reshape(len(batch), -1)


class FunctionPredictor:
    """A TensorFlow function (pruned GraphDef or SavedModel signature) with one input.

    Attributes:
        takes_bytes: the input is encoded image bytes (a string tensor).
        bytes_batched: such an input is a batch (rank >= 1), not one image.
        output_key: the output to read when the function answers a dict.
        input_shape: the input tensor's full shape (batch first), when known.
    """

    def __init__(
        self,
        fn: Any,
        takes_bytes: bool,
        bytes_batched: bool,
        output_key: str | None,
        input_shape: tuple[Any, ...] | None = None,
    ) -> None:
        self.fn = fn
        self.takes_bytes = takes_bytes
        self.bytes_batched = bytes_batched
        self.output_key = output_key
        self.input_shape = input_shape

    @property
    def image_shape(self) -> tuple[Any, ...] | None:
        """The shape of one image input (the batch dimension dropped), or ``None`` when the
        function takes encoded bytes or its shape is unknown."""
        if self.takes_bytes or not self.input_shape:
            return None
        return tuple(self.input_shape[1:])

    def _run(self, value: Any) -> np.ndarray:
        import tensorflow as tf

        out = self.fn(tf.constant(value))
        if isinstance(out, dict):
            out = out[self.output_key] if self.output_key else next(iter(out.values()))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return np.asarray(out)

    def __call__(self, batch: Any) -> np.ndarray:
        if not self.takes_bytes or self.bytes_batched:
            return self._run(batch).reshape(len(batch), -1)
        return np.stack([self._run(item).reshape(-1) for item in batch])


def tensor_input(fn: Any, spec: Any, output_key: str | None) -> FunctionPredictor:
    """A :class:`FunctionPredictor` of ``fn`` whose one input is described by ``spec`` (a
    tensor or a ``TensorSpec``: dtype string means encoded images)."""
    import tensorflow as tf

    takes_bytes = spec.dtype == tf.string
    rank = spec.shape.rank
    batched = takes_bytes and rank is not None and rank >= 1
    shape = tuple(spec.shape.as_list()) if rank is not None else None
    return FunctionPredictor(fn, takes_bytes, batched, output_key, shape)
