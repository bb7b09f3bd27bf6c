"""``sparktf predict`` from the command line: output files, summary line, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sparktf.cli import main
from tests.inference.badimages import write_bad_images
from tests.inference.conftest import build_gray_model, encode, photo

# a valid master that no Spark answers: a test that reaches Spark fails (slowly) instead of
# passing, so exit 2 with the expected message proves the check came first
UNREACHABLE = "spark://127.0.0.1:9"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-images")
    for i in range(6):
        (d / f"{i}.png").write_bytes(encode(photo(28, 28, seed=i)[:, :, 0], "PNG"))
    write_bad_images(d / "bad")
    return d


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-model") / "m.keras"
    build_gray_model().save(path)  # type: ignore[attr-defined]
    return path


def test_help_explains_every_flag(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--model",
        "--input",
        "--urls",
        "--out",
        "--weights",
        "--input-tensor",
        "--output-tensor",
        "--labels",
        "--top-k",
        "--probabilities",
        "--batch-size",
        "--input-size",
        "--scale",
        "--timeout",
        "--retries",
        "--max-bytes",
        "--unsafe",
        "--master",
        "--max-pixels",
        "--conf",
    ):
        assert flag in out
    assert "DecodeJpeg/contents:0" in out and "decompression bombs" in out


@pytest.mark.slow
def test_parquet_output_and_summary_line(
    spark: Any,
    spark_flags: list[str],
    images: Path,
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "preds.parquet"
    code = main(
        [
            "predict",
            "--model",
            str(model),
            "--input",
            str(images),
            "--out",
            str(out),
            "--top-k",
            "3",
            *spark_flags,
            "--no-progress",
        ]
    )
    assert code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("18 rows: 12 ok, 6 failed (corrupt_image 3")
    assert "images/s" in line and str(out) in line
    df = pd.read_parquet(out)  # one file, not a directory of parts
    assert out.is_file() and len(df) == 18
    assert list(df.columns) == ["id", "top_k", "error"]
    first = df[df["error"].isna()].iloc[0]["top_k"]
    assert len(first) == 3 and set(first[0]) == {"label", "class_index", "probability"}


@pytest.mark.slow
def test_csv_and_json_outputs(
    spark: Any, images: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for name in ("p.csv", "p.json"):
        code = main(
            [
                "predict",
                "--model",
                str(model),
                "--input",
                f"{images}/*.png",
                "--out",
                str(tmp_path / name),
                "--probabilities",
                "--no-progress",
            ]
        )
        assert code == 0
    csv = pd.read_csv(tmp_path / "p.csv")
    assert len(csv) == 6 and csv["error"].isna().all()
    top = json.loads(csv.iloc[0]["top_k"])
    assert len(top) == 5 and len(json.loads(csv.iloc[0]["probabilities"])) == 10
    js = pd.read_json(tmp_path / "p.json", lines=True)
    assert len(js) == 6 and len(js.iloc[0]["top_k"]) == 5


def test_without_out_rows_are_printed(
    spark: Any, images: Path, model: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "predict",
            "--model",
            str(model),
            "--input",
            str(images / "bad"),
            "--top-k",
            "2",
            "--no-progress",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 12  # the rows only: the summary is on stderr, not among them
    assert captured.err.strip().splitlines()[-1].startswith("12 rows: ")
    assert any("bomb.png\terror: image_too_large: " in ln for ln in lines)
    ok = next(ln for ln in lines if "gray.png" in ln)
    label, prob = ok.split("\t")[1].split(", ")[0].split(" ")
    assert 0.0 <= float(prob) <= 1.0 and label.isdigit()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "missing.keras"], "model 'missing.keras' not found"),
        (["--out", "preds.txt"], "cannot tell the output format"),
        (["--top-k", "0"], "--top-k must be a positive"),
        (["--input-size", "big"], "invalid input size"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(
    images: Path,
    model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    extra: list[str],
    message: str,
) -> None:
    args = {"--model": str(model), "--input": str(images), "--out": str(tmp_path / "o.parquet")}
    for k, v in zip(extra[::2], extra[1::2], strict=True):
        args[k] = v
    argv = ["predict", *[x for kv in args.items() for x in kv], "--no-progress"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "tune"])
def test_malformed_conf_is_rejected_by_the_parser(
    command: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--model", "m", "--conf", "spark.ui.enabled"])
    assert exc.value.code == 2
    assert "--conf: expected KEY=VALUE, got 'spark.ui.enabled'" in capsys.readouterr().err


def test_existing_output_needs_overwrite(
    spark: Any, images: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "o.json"
    out.write_text("{}\n")
    argv = [
        "predict",
        "--model",
        str(model),
        "--input",
        str(images),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert len(pd.read_json(out, lines=True)) == 18


def test_label_mismatch_and_wrong_tensor_exit_2(
    images: Path, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\n")
    argv = ["predict", "--model", str(model), "--input", str(images), "--labels", str(labels)]
    assert main(argv) == 2
    assert "has 3 labels but model" in capsys.readouterr().err
    (tmp_path / "g.pb").write_bytes(b"")
    argv = ["predict", "--model", str(tmp_path / "g.pb"), "--input", str(images)]
    assert main(argv) == 2
    assert "--input-tensor" in capsys.readouterr().err


def test_printed_rows_are_counted_in_the_summary(
    spark: Any, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for i in range(3):
        (tmp_path / f"ok{i}.png").write_bytes(encode(photo(28, 28, seed=i)[:, :, 0], "PNG"))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("this is a text file, not a JPEG\n")
    png = encode(photo(28, 28, seed=9), "PNG")
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    argv = ["predict", "--model", str(model), "--input", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    rows = captured.out.strip().splitlines()
    assert len(rows) == 6
    summary = captured.err.strip().splitlines()[-1]
    assert sum("\terror: " in ln for ln in rows) == 3
    assert summary.startswith(
        "6 rows: 3 ok, 3 failed (corrupt_image 1, empty_file 1, not_an_image 1); "
    ), summary
    rate = float(summary.split(", ")[-1].split(" images/s")[0])
    assert rate > 0 and summary.endswith("-> stdout")


def test_missing_model_is_reported_before_spark_starts(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # an invalid master fails as soon as Spark is asked to start: the model's error must win
    missing = tmp_path / "missing.keras"
    argv = ["predict", "--model", str(missing), "--input", str(images), "--master", UNREACHABLE]
    for extra in ([], ["--conf", "spark.ui.enabled=false"]):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert f"model '{missing}' not found: no file or directory {missing}" in err
        assert "master" not in err


def test_text_file_named_keras_is_not_a_valid_keras_file(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    fake = tmp_path / "model.keras"
    fake.write_text("I am not a model\n")
    argv = ["predict", "--model", str(fake), "--input", str(images), "--master", UNREACHABLE]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{fake} is not a valid Keras file" in err
    assert "expected a .keras zip archive with config.json inside" in err
    assert "found a text file of 17 bytes starting 'I am not a model'" in err
    assert "File not found" not in err


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "{d}",
            "input folder {d} holds no image files: looked (recursively) for names ending "
            "in .jpg, .jpeg, .png",
        ),
        ("{d}/*.png", "input pattern '{d}/*.png' matches no file"),
        ("{d}/**/*.png", "input pattern '{d}/**/*.png' matches no file"),
    ],
)
def test_input_without_images_exits_2_before_spark_and_the_model(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture, pattern: str, message: str
) -> None:
    d = tmp_path / "inbox"
    (d / "sub").mkdir(parents=True)
    (d / "notes.txt").write_text("no images here\n")
    (d / "sub" / ".hidden.png").write_bytes(encode(photo(28, 28)[:, :, 0], "PNG"))
    source = pattern.format(d=d)
    argv = ["predict", "--model", str(model), "--input", source, "--master", UNREACHABLE]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message.format(d=d) in err


def test_help_explains_the_streaming_flags(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--stream", "--checkpoint", "--available-now", "--max-files-per-trigger"):
        assert flag in out
    assert "exactly-once file sink" in out and "zero-byte" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stream", "--out", "o"], "--stream needs --checkpoint DIR"),
        (["--stream", "--checkpoint", "ck"], "--stream needs --out"),
        (["--checkpoint", "ck", "--out", "o.parquet"], "--checkpoint: only with --stream"),
        (["--available-now", "--max-files-per-trigger", "3"], "--available-now, "),
        (["--stream", "--checkpoint", "ck", "--out", "o", "--overwrite"], "never overwrites"),
        (["--stream", "--checkpoint", "ck", "--out", "o.csv"], "a stream writes a Parquet"),
        (
            ["--stream", "--checkpoint", "ck", "--out", "o", "--max-files-per-trigger", "0"],
            "--max-files-per-trigger must be positive",
        ),
    ],
)
def test_streaming_usage_errors_exit_2_before_spark(
    model: Path,
    images: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    extra: list[str],
    message: str,
) -> None:
    argv = ["predict", "--model", str(model), "--input", str(images), "--master", UNREACHABLE]
    assert main([*argv, *extra]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def _stop_stream(args: list[str], log: Path, batches: int, sig: int, group: bool) -> str:
    """Run ``sparktf ARGS`` (a stream) until ``batches`` micro-batches are done, then send it
    ``sig`` (``group``: to its whole process group, as a terminal's Ctrl-C does; else to the
    driver alone, as a scheduler does); returns its output, once it exited with 128 + sig."""
    import os
    import re
    import signal

    from tests.clusterutil import start_cli, tail, wait_for

    def done() -> bool:  # (a continued stream goes on with the batch numbers of its checkpoint)
        return len(re.findall(r"\bbatch \d+:", log.read_text(errors="replace"))) >= batches

    proc = start_cli(args, log)
    try:
        wait_for(f"{batches} micro-batch(es)", done, proc=proc, log=log)
        if group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        assert proc.wait(timeout=120) == 128 + sig, tail(log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "Traceback" not in text and "WARN" not in text, text
    return text


@pytest.mark.slow
def test_ctrl_c_or_sigterm_stop_a_stream_and_a_restart_loses_and_repeats_nothing(
    spark: Any, spark_flags: list[str], model: Path, tmp_path: Path
) -> None:
    """Ctrl-C stops a running stream (exit 130), the same command continues it, a scheduler's
    SIGTERM stops it again (exit 143), each time with its checkpoint intact; then
    ``--available-now`` labels what is left: every file exactly once across the three runs."""
    import signal

    from tests.clusterutil import write_pngs

    def arrive(name: str, n: int, seed: int) -> set[str]:  # complete before they appear
        files = write_pngs(tmp_path / name, n, seed=seed)
        for path in files:
            path.rename(land / f"{name}-{path.name}")
        return {f"{name}-{p.name}" for p in files}

    land = tmp_path / "landing"
    first = {p.name for p in write_pngs(land, 8)}
    args = ["predict", "--model", str(model), "--input", str(land), "--stream"]
    args += ["--checkpoint", str(tmp_path / "ck"), "--out", str(tmp_path / "preds")]
    args += ["--max-files-per-trigger", "2", *spark_flags]
    text = _stop_stream(args, tmp_path / "run1.log", 2, signal.SIGINT, group=True)
    assert "stream stopped after" in text and "run the same command to continue" in text

    second = arrive("second", 4, seed=3)
    text = _stop_stream(args, tmp_path / "run2.log", 1, signal.SIGTERM, group=False)
    assert "its checkpoint is intact" in text, text

    later = arrive("later", 3, seed=5)
    assert main([*args, "--available-now"]) == 0  # (in this process: the test's session)
    rows = spark.read.parquet(str(tmp_path / "preds")).collect()  # committed files only
    ids = [Path(r.id.removeprefix("file:")).name for r in rows]
    assert len(ids) == len(set(ids)) == 15  # no file twice
    assert set(ids) == first | second | later
    assert all(r.error is None for r in rows)


def test_a_table_without_an_image_column_exits_2_naming_its_columns(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pd.DataFrame({"customer": ["x", "y"], "size": [1, 2]}).to_csv(tmp_path / "t.csv", index=False)
    argv = ["predict", "--model", str(model), "--input", str(tmp_path / "t.csv")]
    assert main([*argv, "--master", UNREACHABLE]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "(columns: customer string, size int64)" in err and "--image-column" in err
