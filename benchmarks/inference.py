"""Batch inference throughput: ``sparktf predict`` vs a plain Keras loop vs the 2016 pattern.

Over the same image files on the same cores, in one process and one run:

  (a) ``sparktf.inference.run_predict`` on ``local[2]`` writing a Parquet file (warm session
      and workers: the median of --repeats runs after one cold run, which is reported too);
  (b) a plain single-process Keras loop using both cores: decode every file (PIL, as
      ``keras.utils.load_img`` does), stack, ``model.predict(x, batch_size=B)``;
  (c) the 2016 sketch's per-image pattern on the same ``local[2]``: for every image, import the
      broadcast frozen graph into a new ``tf.Graph``, open a ``tf.compat.v1.Session`` and run
      it (timed on a sample of --per-image-sample images; its rate is per image).

Models (--models): ``mnist_cnn`` (sparktf.keras.models, untrained: timing does not need
accuracy) on Fashion-MNIST test images exported as PNG files, and any ``keras.applications``
model by name (random weights), e.g. ``mobilenet_v2`` or ``inception_v3`` (the 2016 sketch's
model), on synthetic JPEG photos a little larger than the model's input (256x256 for 224,
336x336 for 299), resized on the way in.

    .venv/bin/python benchmarks/inference.py --png 10000 --jpeg 1000 --repeats 3
    .venv/bin/python benchmarks/inference.py --models inception_v3 --jpeg 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def machine() -> str:
    """Cores, memory and CPU model in one line."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {cpu or 'unknown CPU'}, no GPU"


def make_pngs(directory: Path, n: int) -> list[Path]:
    """Export ``n`` Fashion-MNIST images (test split first, then train) as PNG files."""
    from sparktf.datasets import export_images, load_fashion_mnist

    if not (directory / "labels.csv").is_file() or len(list(directory.glob("*.png"))) != n:
        ds = load_fashion_mnist()
        x = np.concatenate([ds.x_test, ds.x_train])[:n]
        y = np.concatenate([ds.y_test, ds.y_train])[:n]
        export_images(x, y, directory, class_names=ds.class_names)
    (directory / "labels.csv").unlink(missing_ok=True)  # only images in the input directory
    return sorted(directory.glob("*.png"))


def make_jpegs(directory: Path, n: int, size: int = 256) -> list[Path]:
    """Write ``n`` synthetic photo-like JPEG files (smooth gradients, shapes and noise)."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob("*.jpg"))
    if len(existing) == n:
        return existing
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    for i in range(n):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        img = np.stack([x * a, y * b, (x + y) * c / 2], -1)
        cx, cy, r = [*rng.integers(30, size - 30, 2).tolist(), int(rng.integers(10, 60))]
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(directory / f"{i:05d}.jpg", quality=90)
    return sorted(directory.glob("*.jpg"))


def plain_keras_loop(model: Any, files: list[Path], spec: Any, batch_size: int) -> float:
    """(b): decode every file, stack, model.predict; returns seconds."""
    from keras.utils import img_to_array, load_img

    from sparktf.imaging import to_batch

    t0 = time.perf_counter()
    arrays = [
        img_to_array(
            load_img(
                f,
                color_mode=spec.color_mode,
                target_size=(spec.height, spec.width),
                interpolation=spec.interpolation,
            ),
            dtype="uint8",
        )
        for f in files
    ]
    x = to_batch(arrays, spec)
    model.predict(x, batch_size=batch_size, verbose=0)
    return time.perf_counter() - t0


def freeze(model: Any) -> tuple[bytes, str, str]:
    """A frozen GraphDef of a Keras model with a float batch input."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(fn)
    gd = frozen.graph.as_graph_def()
    return gd.SerializeToString(), frozen.inputs[0].name, frozen.outputs[0].name


def per_image_2016(spark: Any, files: list[Path], model: Any, spec: Any) -> float:
    """(c): per image, a new graph and session from the broadcast GraphDef; returns seconds."""
    graph_bytes, in_name, out_name = freeze(model)
    sc = spark.sparkContext
    graph = sc.broadcast(graph_bytes)
    plan = (in_name, out_name, spec)

    def run_partition(rows: Any) -> Any:
        import tensorflow as tf

        from sparktf.imaging import decode_image, to_batch

        in_t, out_t, sp = plan
        for _path, content in rows:
            gd = tf.compat.v1.GraphDef()
            gd.ParseFromString(graph.value)
            g = tf.Graph()
            with g.as_default():
                tf.compat.v1.import_graph_def(gd, name="")
            cfg = tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=1, inter_op_parallelism_threads=1
            )
            with tf.compat.v1.Session(graph=g, config=cfg) as sess:
                x = to_batch([decode_image(bytes(content), sp)], sp)
                probs = sess.run(out_t, {in_t: x})
            yield int(np.argmax(probs))

    rdd = sc.parallelize([(str(f), f.read_bytes()) for f in files], 2)
    rdd.mapPartitions(run_partition).count()  # warm: TF imported in the workers
    t0 = time.perf_counter()
    rdd.mapPartitions(run_partition).count()
    return time.perf_counter() - t0


def bench_model(
    spark: Any,
    name: str,
    model_arg: str,
    keras_model: Any,
    files: list[Path],
    cfg: Any,
    repeats: int,
    sample: int,
    work: Path,
) -> dict[str, Any]:
    from sparktf.inference import run_predict
    from sparktf.inference.models import resolve_model

    out = str(work / f"{name}-preds.parquet")
    src = str(files[0].parent)
    n = len(files)
    t0 = time.perf_counter()
    s = run_predict(src, model_arg, out, cfg, spark=spark, overwrite=True, progress=False)
    cold = time.perf_counter() - t0
    assert s.rows == n and s.ok == n, s.line()
    spec = resolve_model(model_arg, cfg, work)
    plain_keras_loop(keras_model, files[: cfg.batch_size], spec.image, cfg.batch_size)  # trace
    a_runs, a_jobs, b_runs = [], [], []
    for _ in range(repeats):  # interleaved so that noise hits both alike
        t0 = time.perf_counter()
        s = run_predict(src, model_arg, out, cfg, spark=spark, overwrite=True, progress=False)
        a_runs.append(time.perf_counter() - t0)
        a_jobs.append(s.seconds)
        b_runs.append(plain_keras_loop(keras_model, files, spec.image, cfg.batch_size))
    c_files = files[:sample]
    c = per_image_2016(spark, c_files, keras_model, spec.image)
    a = n / statistics.median(a_runs)
    b = n / statistics.median(b_runs)
    cr = len(c_files) / c
    return {
        "model": name,
        "images": n,
        "a_images_s": a,
        "a_job_images_s": n / statistics.median(a_jobs),
        "a_cold_images_s": n / cold,
        "b_images_s": b,
        "c_images_s": cr,
        "c_sample": len(c_files),
        "a_over_b": a / b,
        "a_over_c": a / cr,
        "a_runs_s": a_runs,
        "b_runs_s": b_runs,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--png", type=int, default=10000, help="Fashion-MNIST PNG files (mnist_cnn)")
    p.add_argument("--jpeg", type=int, default=1000, help="JPEG photos (keras.applications)")
    p.add_argument("--repeats", type=int, default=3, help="warm runs per measurement")
    p.add_argument("--batch-size", type=int, default=128, help="model batch size (a and b)")
    p.add_argument("--per-image-sample", type=int, default=100, help="images timed for (c)")
    p.add_argument(
        "--models", default="mnist_cnn,mobilenet_v2", help="mnist_cnn, keras.applications names"
    )
    p.add_argument("--master", default="local[2]")
    p.add_argument("--workdir", default="/tmp/sparktf-bench-inference")
    p.add_argument("--json", help="also write the results as JSON here")
    args = p.parse_args(argv)

    import keras
    from sparktf.inference import PredictConfig
    from sparktf.spark import session

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    spark = session(args.master, app_name="bench-inference", conf={"spark.ui.enabled": "false"})
    results = []
    for name in args.models.split(","):
        cfg = PredictConfig(batch_size=args.batch_size)
        if name == "mnist_cnn":
            from sparktf.keras.models import build_mnist_cnn

            keras.utils.set_random_seed(0)
            model = build_mnist_cnn({})
            model_path = work / "mnist_cnn.keras"
            model.save(model_path)
            files = make_pngs(work / "png", args.png)
            res = bench_model(
                spark,
                name,
                str(model_path),
                model,
                files,
                cfg,
                args.repeats,
                args.per_image_sample,
                work,
            )
        else:
            from sparktf.inference.models import find_application

            found = find_application(name)
            if found is None:
                raise SystemExit(f"unknown model {name!r}: mnist_cnn or a keras.applications name")
            snake, app = found
            keras.utils.set_random_seed(0)
            model = getattr(keras.applications, app.constructor)(weights=None)
            weights = work / f"{snake}.weights.h5"
            model.save_weights(weights)
            # photos a little larger than the model's input, resized on the way in
            jpeg_size = max(256, app.size + app.size // 8)
            files = make_jpegs(work / f"jpeg{jpeg_size}", args.jpeg, size=jpeg_size)
            cfg = PredictConfig(batch_size=args.batch_size, weights=str(weights))
            res = bench_model(
                spark,
                snake,
                snake,
                model,
                files,
                cfg,
                args.repeats,
                max(4, args.per_image_sample // 5),
                work,
            )
        results.append(res)
        print(json.dumps(res), flush=True)

    print()
    print(f"machine: {machine()}; master {args.master}; date {dt.date.today().isoformat()}")
    print(f"command: .venv/bin/python benchmarks/inference.py {' '.join(sys.argv[1:])}")
    print()
    print(
        "| model | images | (a) sparktf predict img/s | (a) job only | (a) cold run | "
        "(b) plain Keras img/s | (c) 2016 per-image img/s | a/b | a/c |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['model']} | {r['images']} | {r['a_images_s']:.0f} | "
            f"{r['a_job_images_s']:.0f} | {r['a_cold_images_s']:.0f} | {r['b_images_s']:.0f} | "
            f"{r['c_images_s']:.1f} (n={r['c_sample']}) | {r['a_over_b']:.2f} | "
            f"{r['a_over_c']:.0f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
