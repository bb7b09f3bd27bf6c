"""What a lost worker or a lost driver costs, with and without per-epoch checkpoints (issue 25).

On a 2-worker ``sparktf cluster`` (1 core each), a study of 4 ``mnist_cnn`` trials x 6 epochs on
a Fashion-MNIST subset, no pruning, run by the ``sparktf tune`` CLI as a real driver process:

- **no loss**: the study with checkpoints (the default) and with ``--no-checkpoints``, side by
  side: the checkpoints' overhead on the study's wall time (target <= 5 %);
- **a worker lost**: worker 1 (with its executor and Python workers) SIGKILLed while its trial
  trains its 4th epoch (3 done), once per run; epochs trained again per loss (target <= 1;
  without checkpoints, every epoch done is trained again) and the study's wall time, with and
  without checkpoints. With checkpoints, the kill comes half an epoch after the first trial's
  checkpoint of epoch 3 appears; without, at the same moment after the study's start;
- **the driver lost**: the CLI's process group and everything it started SIGKILLed at the same
  moment, then ``sparktf tune --resume``: epochs trained in all against the uninterrupted
  study's 24 (target: at most one more per trial running at the kill).

Epochs trained are counted from each trial's record: a trial's last attempt trains
``epochs - resumed_from_epoch``; an attempt that was lost had trained the epochs of its newest
checkpoint at the kill (read from the store just before it), plus the epoch it was in.

    .venv/bin/python benchmarks/durability.py --train 3000 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import machine, markdown_table, median, today  # noqa: E402

EPOCHS, TRIALS = 6, 4
SPACE = {"learning_rate": {"type": "choice", "values": [1e-3, 2e-3, 3e-3, 5e-3]}, "epochs": EPOCHS}


def _tune_args(space: Path, run: Path, master: str, train: int, checkpoints: bool) -> list[str]:
    args = ["tune", "--model", "mnist_cnn", "--dataset", "fashion-mnist", "--space", str(space)]
    args += ["--trials", str(TRIALS), "--sampler", "grid", "--pruner", "none", "--out", str(run)]
    args += ["--train-subset", str(train), "--test-subset", "1000", "--master", master]
    args += ["--conf", "spark.cores.max=2", "--quiet", "--no-report"]
    return args + ([] if checkpoints else ["--no-checkpoints"])


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sparktf.cli", *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _steps(run: Path) -> dict[int, int]:
    """Each trial's newest committed checkpoint step in the run directory's store."""
    out: dict[int, int] = {}
    for marker in run.glob("checkpoints/*/trial-*/step-*/checkpoint.json"):
        trial = int(marker.parent.parent.name.split("-")[1])
        out[trial] = max(out.get(trial, 0), int(marker.parent.name.split("-")[1]))
    return out


def _trials(run: Path) -> list[dict[str, Any]]:
    import pandas as pd

    df = pd.read_csv(run / "trials.csv")
    return df.to_dict("records")  # type: ignore[no-any-return]


def _int(value: Any) -> int | None:
    """An integer column's cell (pandas reads an empty one as NaN)."""
    return None if value is None or value != value else int(value)


def _epochs_trained(trials: list[dict[str, Any]], lost: dict[int, int]) -> int:
    """Full epochs trained in all: each trial's last attempt, plus what lost attempts did."""
    total = sum(EPOCHS - (_int(t.get("resumed_from_epoch")) or 0) for t in trials)
    return total + sum(lost.values())


def _wait(what: str, check: Any, proc: subprocess.Popen[bytes], timeout: float = 900) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            raise RuntimeError(f"the driver exited ({proc.returncode}) before {what}")
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _study(
    cluster: Any,
    work: Path,
    name: str,
    train: int,
    checkpoints: bool,
    kill: str | None,
    at: float | None,
    epoch_s: float,
) -> dict[str, Any]:
    """One study; ``kill`` is None, "worker" or "driver"; ``at`` the seconds after its start
    at which to kill (None: half an epoch after the first checkpoint of epoch 3)."""
    from sparktf.cluster import descendants, kill_worker

    run, space = work / name, work / "space.json"
    space.write_text(json.dumps(SPACE))
    args = _tune_args(space, run, cluster.master_url, train, checkpoints)
    t0 = time.perf_counter()
    proc = _start(args, work / f"{name}.log")
    lost: dict[int, int] = {}
    killed_at = None
    if kill is not None:
        if at is None:
            _wait("a checkpoint of epoch 3", lambda: 3 in _steps(run).values(), proc)
            time.sleep(epoch_s / 2)
        else:
            _wait("the kill moment", lambda: time.perf_counter() - t0 >= at, proc)
        killed_at = time.perf_counter() - t0
        steps = _steps(run)
        if kill == "worker":
            kill_worker(cluster, 1)
        else:
            for pid in [proc.pid, *descendants(proc.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        lost = steps
    rc = proc.wait(timeout=1800)
    if kill == "driver":
        proc = _start(["tune", "--resume", str(run), "--quiet", "--no-report"], work / "r.log")
        rc = proc.wait(timeout=1800)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"{name} exited {rc}: see {work / name}.log")
    trials = _trials(run)
    resumed = {int(t["number"]): _int(t.get("resumed_from_epoch")) for t in trials}
    if kill == "worker":  # only the trial on the lost worker lost its attempt
        lost = {n: s for n, s in lost.items() if resumed.get(n) is not None}
    return {
        "wall": wall,
        "killed_at": killed_at,
        "epochs": _epochs_trained(trials, lost),
        "lost": lost,
        "resumed": resumed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--train", type=int, default=3000, help="training images (default 3000)")
    ap.add_argument("--runs", type=int, default=1, help="repeats of each pair (median)")
    ap.add_argument(
        "--overhead-only", action="store_true", help="only the no-loss pair (the overhead)"
    )
    args = ap.parse_args()
    from sparktf.cluster import standalone_cluster

    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results: dict[str, list[dict[str, Any]]] = {}
        for r in range(args.runs):
            with standalone_cluster(workers=2, cores=1, memory="3g", state_dir=work / f"c{r}") as c:
                base = _study(c, work, f"ckpt-{r}", args.train, True, None, None, 0)
                plain = _study(c, work, f"plain-{r}", args.train, False, None, None, 0)
                epoch_s = base["wall"] / (TRIALS / 2 * EPOCHS + 2)  # rough: 2 waves, start-up
                results.setdefault("no loss, checkpoints", []).append(base)
                results.setdefault("no loss, --no-checkpoints", []).append(plain)
            losses = (
                ()
                if args.overhead_only
                else (("worker", True), ("worker", False), ("driver", True))
            )
            for kind, ck in losses:
                state = work / f"c{r}-{kind}-{ck}"
                with standalone_cluster(workers=2, cores=1, memory="3g", state_dir=state) as c:
                    same = results.get("worker lost, checkpoints", [{}])[-1]
                    at = None if ck else same["killed_at"]
                    label = f"{kind} lost, " + ("checkpoints" if ck else "--no-checkpoints")
                    res = _study(c, work, f"{kind}-{ck}-{r}", args.train, ck, kind, at, epoch_s)
                    if not ck:  # no checkpoint tells: killed at the same moment, its lost
                        # attempt had done what the checkpointed run's had
                        done = sum(same["lost"].values())
                        res["lost"] = {"as with checkpoints": done}
                        res["epochs"] += done
                    results.setdefault(label, []).append(res)
        for label, runs in results.items():
            rows.append(
                [
                    label,
                    f"{median([x['wall'] for x in runs]):.1f}",
                    median([x["epochs"] for x in runs]),
                    "; ".join(json.dumps(x["lost"]) for x in runs),
                    "; ".join(json.dumps(x["resumed"]) for x in runs),
                ]
            )
    print(f"machine: {machine()}; date: {today()}; train images {args.train}; runs {args.runs}")
    print(
        markdown_table(
            [
                "study",
                "wall (s, median)",
                "epochs trained (of 24)",
                "checkpoint steps at the kill",
                "resumed_from_epoch per trial",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
