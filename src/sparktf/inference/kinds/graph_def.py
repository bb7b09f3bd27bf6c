"""Frozen TensorFlow GraphDefs (``.pb``), fed and read by tensor name."""

from __future__ import annotations

from pathlib import Path

from sparktf.errors import ConfigError
from sparktf.inference.config import PredictConfig
from sparktf.inference.kinds.base import (
    ModelKind,
    ModelSpec,
    Predictor,
    Resolved,
    function_image_spec,
    load_or_config_error,
    shipped,
)
from sparktf.inference.kinds.predictors import FunctionPredictor, tensor_input


def load_graph_def(path: str, input_name: str, output_name: str) -> FunctionPredictor:
    """Import a frozen GraphDef and prune it to ``input_name`` -> ``output_name``.

    Raises:
        ConfigError: a name that is not a tensor of the graph (the message lists its
            placeholders and last operations).
    """
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as fh:
        graph_def.ParseFromString(fh.read())
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
    )
    graph = wrapped.graph
    tensors = []
    for flag, name in (("--input-tensor", input_name), ("--output-tensor", output_name)):
        try:
            tensors.append(graph.get_tensor_by_name(name))
        except (KeyError, ValueError) as exc:
            placeholders = [
                op.name + ":0"
                for op in graph.get_operations()
                if op.type in ("Placeholder", "PlaceholderWithDefault")
            ]
            last = [op.name + ":0" for op in graph.get_operations()[-3:]]
            raise ConfigError(
                f"{flag} {name!r} is not a tensor of the graph {path}: {exc}. "
                f"Expected a name like 'op_name:0'; the graph's placeholders are "
                f"{', '.join(placeholders) or 'none'} and its last operations "
                f"{', '.join(last)}"
            ) from exc
    inp, out = tensors
    return tensor_input(wrapped.prune(inp, out), inp, None)


class GraphDefHandler:
    """A frozen GraphDef file (``.pb``), with ``--input-tensor`` and ``--output-tensor``."""

    kind = ModelKind.GRAPH_DEF

    def recognises(self, path: Path, name: str) -> bool:
        """A ``.pb`` file."""
        return path.is_file() and path.suffix.lower() == ".pb"

    def resolve(self, name: str, path: Path, cfg: PredictConfig, stage_dir: Path) -> Resolved:
        """Import the graph and find the two tensors; the file travels as it is.

        Raises:
            ConfigError: a tensor name is missing or not in the graph.
        """
        if not cfg.input_tensor or not cfg.output_tensor:
            raise ConfigError(
                f"{name} is a frozen GraphDef: name its input and output tensors with "
                "--input-tensor (e.g. DecodeJpeg/contents:0) and --output-tensor "
                "(e.g. softmax:0)"
            )
        inp, out = cfg.input_tensor, cfg.output_tensor
        pred = load_or_config_error(
            "a frozen GraphDef", name, lambda: load_graph_def(str(path), inp, out)
        )
        return Resolved(
            image=function_image_spec(cfg, pred.takes_bytes, pred.image_shape, name),
            ship=path,
            predictor=pred,
            input_tensor=inp,
            output_tensor=out,
        )

    def load(self, spec: ModelSpec, path: str | None) -> Predictor:
        """Import the shipped graph."""
        if not spec.input_tensor or not spec.output_tensor:
            raise ConfigError(f"GraphDef {spec.source}: the spec names no input/output tensor")
        return load_graph_def(shipped(spec, path), spec.input_tensor, spec.output_tensor)
