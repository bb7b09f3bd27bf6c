"""``sparktf predict``: apply a trained model to many images with Spark."""

from __future__ import annotations

import argparse
from typing import Any

from sparktf.commands import add_conf_option, add_spark_options

EPILOG = """\
examples:
  sparktf predict --model runs/fmnist-1 --input 'images/**/*.png' --out preds.parquet
  sparktf predict --model classify_image_graph_def.pb --input-tensor DecodeJpeg/contents:0 \\
      --output-tensor softmax:0 --labels labels.txt --urls urls.txt --top-k 5 --out preds.json
  sparktf predict --model mobilenet_v2 --weights mobilenet_v2_weights.h5 --input photos/ --top-k 5
  sparktf predict --model runs/f1 --input landing/ --stream --checkpoint ck/ --out preds/
  sparktf predict --model runs/f1 --input landing/ --stream --available-now --checkpoint ck/ \
      --out preds/

Output: one row per input with id (path, URL or index), top_k (label, class_index, probability;
best first), probabilities (with --probabilities) and error ("<reason>: <detail>", empty when
fine). A broken image, a 404 or a timeout fails its own row, never the job.

Streaming (--stream): new image files arriving in the --input folder (or rows appended to a
Parquet/Delta table) are predicted in micro-batches and written to the --out directory with
Spark's exactly-once file sink; --checkpoint remembers what was read and written, so a stopped
stream (Ctrl-C) run again with the same checkpoint labels no file twice and skips none. Read the
output with Spark (spark.read.parquet), which keeps only committed files. Move complete files
into the folder (write them under a name starting with '.' or '_', then rename): Spark's file
source reads no zero-byte file.
"""


def register(sub: Any) -> None:
    """Add ``predict`` to the CLI."""
    p = sub.add_parser(
        "predict",
        help="batch inference: apply a model to many images (files, URLs, Parquet, IDX)",
        description="Apply a trained model to many images with Spark: the model goes to each "
        "executor once and is loaded once per Python worker; images are decoded, resized and "
        "fed in batches on the executors.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _model_arguments(p)
    _input_arguments(p)
    _preprocessing_arguments(p)
    _output_arguments(p)
    _execution_arguments(p)
    _url_arguments(p)
    _stream_arguments(p)
    p.set_defaults(func=run)


def _model_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: the model and how to read it."""
    m = p.add_argument_group("model")
    m.add_argument(
        "--model",
        required=True,
        help="a .keras/.h5 file, a TensorFlow SavedModel directory, a frozen GraphDef .pb, a "
        "'sparktf tune' run directory (its best model), or a keras.applications name such as "
        "mobilenet_v2, resnet50, inception_v3",
    )
    m.add_argument(
        "--trial",
        type=int,
        metavar="N",
        help="with a run directory of several objectives: the model of its Pareto-front trial N "
        "(default: the one --select chose, in best/)",
    )
    m.add_argument(
        "--weights",
        help="keras.applications weights: an .h5 file, 'imagenet' (download; the default) or "
        "'none' (random weights, for timing only)",
    )
    m.add_argument(
        "--input-tensor",
        help="GraphDef input tensor (e.g. DecodeJpeg/contents:0 for encoded images, or a float "
        "batch input such as input:0); SavedModel: the signature's input name",
    )
    m.add_argument(
        "--output-tensor",
        help="GraphDef output tensor (e.g. softmax:0); SavedModel: the signature's output name",
    )
    m.add_argument("--signature", help="SavedModel signature (default: serving_default)")
    m.add_argument(
        "--labels",
        help="label file, one label per line in class-index order (or a JSON list); default: "
        "the run directory's class names, ImageNet's for keras.applications, else the index",
    )
    m.add_argument(
        "--unsafe",
        action="store_true",
        help="load .keras files with safe_mode off (runs Lambda layers' code: trusted files only)",
    )


def _input_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: where the images come from."""
    i = p.add_argument_group("input (one of --input, --urls)")
    src = i.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--input",
        help="image directory (searched recursively for .jpg/.png/...), glob such as "
        "'images/**/*.png' (quote it), a CSV or Parquet table with an image column (bytes or "
        "paths, as 'tune --data' takes), or an MNIST-format IDX image file",
    )
    src.add_argument("--urls", help="text file of http(s) image URLs, one per line")
    i.add_argument(
        "--input-format",
        choices=("auto", "files", "parquet", "csv", "idx"),
        default="auto",
        help="how to read --input (default: auto, by its form)",
    )
    i.add_argument(
        "--image-column",
        help="table: the column of encoded image bytes or of image paths (relative to the "
        "table's folder, or absolute); default: the one binary column, else a column named "
        "path, image, file or filename",
    )
    i.add_argument(
        "--id-column",
        help="table: the column copied to the output's id (default: id, path, ... when "
        "present; a table model: a column named id or *_id)",
    )


def _preprocessing_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: how images become the model's input."""
    pre = p.add_argument_group("preprocessing (default: from the model or its run directory)")
    pre.add_argument("--input-size", help="HEIGHTxWIDTH the images are resized to, e.g. 224x224")
    pre.add_argument("--channels", type=int, choices=(1, 3), help="1 (grayscale) or 3 (RGB)")
    pre.add_argument(
        "--scale",
        type=float,
        help="multiply pixels (0..255) by this (default: the run directory's, else 1/255; "
        "keras.applications models use their own preprocess_input unless this is given)",
    )
    pre.add_argument("--offset", type=float, default=0.0, help="add this after scaling")
    pre.add_argument(
        "--interpolation",
        default="bilinear",
        choices=("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"),
        help="resize filter, as in keras.utils.load_img (default: bilinear)",
    )
    pre.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse larger images as decompression bombs (default: 40000000)",
    )


def _output_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: where the predictions go."""
    o = p.add_argument_group("output")
    o.add_argument(
        "--out",
        help="output file: .parquet, .csv or .json (JSON Lines); a local path becomes one file, "
        "an hdfs:// or s3a:// path a Spark output directory. Without --out each row is "
        "printed: id, then 'label probability, ...' or the error",
    )
    o.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    o.add_argument("--top-k", type=int, default=5, help="labels per image (default: 5)")
    o.add_argument(
        "--probabilities", action="store_true", help="also write the full probability vector"
    )


def _execution_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: Spark and batching."""
    x = p.add_argument_group("execution")
    add_spark_options(x)
    add_conf_option(x)
    x.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="images per model call (default: 64; independent of Arrow's batch size)",
    )
    x.add_argument(
        "--partitions",
        type=int,
        help="Spark partitions of the input (default: 4 per task slot, and no more than a "
        "folder or a stream's micro-batch has batches of --batch-size images)",
    )
    x.add_argument("--no-progress", action="store_true", help="no progress display")


def _url_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: downloads on the executors."""
    u = p.add_argument_group("URLs")
    u.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per download attempt (default: 10)"
    )
    u.add_argument(
        "--retries",
        type=int,
        default=2,
        help="retries after a timeout, connection error, 429 or 5xx (default: 2)",
    )
    u.add_argument(
        "--max-bytes",
        type=int,
        default=50 * 1024 * 1024,
        help="refuse larger downloads (default: 52428800 = 50 MiB)",
    )
    u.add_argument(
        "--fetch-threads", type=int, default=8, help="parallel downloads per task (default: 8)"
    )


def _stream_arguments(p: argparse.ArgumentParser) -> None:
    """Flags: predicting a stream of new images."""
    s = p.add_argument_group("streaming")
    s.add_argument(
        "--stream",
        action="store_true",
        help="keep predicting new image files as they arrive in the --input folder (or rows "
        "appended to a Parquet/Delta table), writing them to the --out directory (Parquet; "
        "Delta for a name ending in .delta) until Ctrl-C",
    )
    s.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="with --stream (required): where the stream remembers the files it has read and "
        "written; run again with the same one to continue where it stopped",
    )
    s.add_argument(
        "--available-now",
        action="store_true",
        help="with --stream: predict what has arrived since the last run, then exit "
        "(for cron jobs)",
    )
    s.add_argument(
        "--max-files-per-trigger",
        type=int,
        metavar="N",
        help="with --stream: at most N new files per micro-batch (default: all that arrived)",
    )


STREAM_ONLY = ("checkpoint", "available_now", "max_files_per_trigger")


def stream_config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~sparktf.inference.stream.StreamConfig` of parsed arguments, or ``None``
    without ``--stream``.

    Raises:
        ConfigError: a streaming flag without ``--stream``, or a bad combination with it.
    """
    from sparktf.errors import ConfigError
    from sparktf.inference.stream import StreamConfig

    if not args.stream:
        given = [f"--{name.replace('_', '-')}" for name in STREAM_ONLY if getattr(args, name)]
        if given:
            raise ConfigError(f"{', '.join(given)}: only with --stream")
        return None
    if args.urls:
        raise ConfigError("--stream reads new files from an --input folder or table, not --urls")
    if args.overwrite:
        raise ConfigError(
            "--stream appends to --out and never overwrites it (start over with a new --out "
            "and a new --checkpoint)"
        )
    return StreamConfig(
        out=args.out or "",
        checkpoint=args.checkpoint or "",
        available_now=args.available_now,
        max_files_per_trigger=args.max_files_per_trigger,
        progress=not args.no_progress,
    )


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~sparktf.inference.PredictConfig` of parsed arguments."""
    from sparktf.imaging import parse_size
    from sparktf.inference.config import PredictConfig

    options: dict[str, Any] = {
        "input_format": "urls" if args.urls else args.input_format,
        "image_column": args.image_column,
        "id_column": args.id_column,
        "input_tensor": args.input_tensor,
        "output_tensor": args.output_tensor,
        "signature": args.signature,
        "weights": args.weights,
        "safe_mode": not args.unsafe,
        "labels": args.labels,
        "input_size": parse_size(args.input_size) if args.input_size else None,
        "channels": args.channels,
        "scale": args.scale,
        "offset": args.offset,
        "interpolation": args.interpolation,
        "top_k": args.top_k,
        "probabilities": args.probabilities,
        "batch_size": args.batch_size,
        "partitions": args.partitions,
        "timeout": args.timeout,
        "retries": args.retries,
        "max_bytes": args.max_bytes,
        "fetch_threads": args.fetch_threads,
    }
    if args.max_pixels is not None:
        options["max_pixels"] = args.max_pixels
    return PredictConfig.from_options(**options)


def run(args: argparse.Namespace) -> int:
    """Run the prediction job and print its summary line; the output, the input and the
    model are checked before Spark starts."""
    from sparktf.inference.predict import output_format, run_predict

    if args.trial is not None:
        from sparktf.rundir import trial_model_dir

        args.model = str(trial_model_dir(args.model, args.trial))
    cfg = config_from_args(args)
    stream = stream_config_from_args(args)
    if stream is not None:
        return _run_stream(args, cfg, stream)
    if args.out is not None:
        output_format(args.out)  # a bad suffix fails before Spark or TensorFlow start
    summary = run_predict(
        args.urls or args.input,
        args.model,
        args.out,
        cfg,
        master=args.master,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        conf=dict(args.conf) if args.conf else None,
    )
    if args.out is None:  # the rows are the result on stdout; the summary goes beside them
        from sparktf.console import console

        console.print(summary.line(), markup=False, highlight=False, soft_wrap=True)
    else:
        print(summary.line())
    return 0


def _run_stream(args: argparse.Namespace, cfg: Any, stream: Any) -> int:
    """``--stream``: run until Ctrl-C or SIGTERM (exit 130 or 143 after a clean stop) or, with
    ``--available-now``, until what has arrived is predicted."""
    from sparktf.console import print_always
    from sparktf.inference.stream import run_stream
    from sparktf.spark import stop_spark

    summary = run_stream(
        args.input,
        args.model,
        stream,
        cfg,
        master=args.master,
        conf=dict(args.conf) if args.conf else None,
    )
    print(summary.line())
    if summary.stopped:
        print_always(
            "stream stopped; its checkpoint is intact: run the same command to continue "
            "where it stopped"
        )
        stop_spark()
        return summary.exit_code
    return 0
