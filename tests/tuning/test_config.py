"""TuneConfig checks itself, and says which settings --resume may change."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparktf.errors import ConfigError
from sparktf.tuning.config import TuneConfig, resumable

SPACE = {"x": {"type": "uniform", "low": 0, "high": 1}}


def _cfg(tmp_path: Path, **kw: object) -> TuneConfig:
    return TuneConfig(
        objective="m:f", objective_kind="function", space=SPACE, out=str(tmp_path / "r"), **kw
    )


def test_defaults_follow_the_objective_and_the_metric(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    assert (cfg.metric, cfg.direction) == ("value", "minimize")
    keras = TuneConfig(objective="mnist_cnn", space={"neurons": 64}, out=str(tmp_path))
    assert (keras.metric, keras.direction, keras.monitor) == (
        "val_accuracy",
        "maximize",
        "val_accuracy",
    )
    assert keras.storage_url == f"sqlite:///{(tmp_path / 'study.db').resolve()}"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"trials": 0}, "--trials must be at least 1"),
        ({"parallelism": 0}, "--parallelism must be at least 1"),
        ({"max_retries": -1}, "--max-retries must be >= 0"),
        ({"val_fraction": 1.5}, "--val-fraction must be between 0 and 1"),
        ({"timeout": -1.0}, "--timeout must be a positive number"),
        ({"train_subset": 1}, "--train-subset must be at least 2"),
        ({"sampler": "bayes"}, "unknown sampler 'bayes'"),
        ({"pruner": "x"}, "unknown pruner 'x'"),
        ({"direction": "up"}, "--direction must be maximize or minimize"),
        ({"dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"master": "yarnn"}, "invalid Spark master URL"),
        ({"storage": "mysql+nosuchdriver://u@h/db"}, "no database driver"),
        ({"sampler": "grid"}, "grid"),
    ],
)
def test_invalid_settings_are_refused_with_their_flag(
    tmp_path: Path, kw: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _cfg(tmp_path, **kw)
    assert not (tmp_path / "r").exists()


def test_a_missing_space_or_objective_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="search space is required"):
        TuneConfig(objective="m:f", objective_kind="function", out=str(tmp_path))
    with pytest.raises(ConfigError, match="give the model or objective"):
        TuneConfig(space=SPACE, out=str(tmp_path))


def test_resume_changes_only_what_may_change_and_says_why(tmp_path: Path) -> None:
    saved = TuneConfig.from_dict(_cfg(tmp_path, sampler="tpe").to_dict())
    later = saved.resumed({"trials": 40, "channel_advertise": "10.0.0.1:8000", "sampler": None})
    assert (later.trials, later.channel_advertise, later.sampler) == (40, "10.0.0.1:8000", "tpe")
    assert saved.resumed({"sampler": "tpe"}).sampler == "tpe"  # the same value is no change
    with pytest.raises(ConfigError, match=r"--sampler cannot change on --resume .*this search"):
        saved.resumed({"sampler": "random"})
    with pytest.raises(ConfigError, match=r"--val-fraction cannot change .*other data"):
        saved.resumed({"val_fraction": 0.2})
    with pytest.raises(ConfigError, match=r"the study was started without --seed, got 5\)"):
        saved.resumed({"seed": 5})  # not "the study has None"
    assert {"--trials", "--timeout", "--master", "--channel-address"} <= set(resumable())
    assert "--sampler" not in resumable()


def test_objectives_are_kept_in_order_with_the_learning_curve_named(tmp_path: Path) -> None:
    keras = TuneConfig(
        objective="mnist_cnn",
        space={"neurons": 64},
        out=str(tmp_path),
        objectives={"params": "min", "val_loss": "min"},
        constraints=["latency_ms < 5"],
    )
    assert keras.objectives == ["params:minimize", "val_loss:minimize"]
    assert (keras.metric, keras.direction, keras.monitor) == ("val_loss", "minimize", "val_loss")
    assert TuneConfig.from_dict(keras.to_dict()) == keras
    only = TuneConfig(
        objective="mnist_cnn", space={"neurons": 64}, out=str(tmp_path), objectives=["params:min"]
    )
    assert (only.metric, only.monitor) == ("val_accuracy", "val_accuracy")  # reported, not judged
    assert TuneConfig.from_dict(only.to_dict()) == only
    with pytest.raises(ConfigError, match="--metric loss is not one of the objectives"):
        _cfg(tmp_path, objectives={"a": "max", "b": "min"}, metric="loss")


def test_dispatch_is_recorded_checked_and_kept_or_changed_on_resume(tmp_path: Path) -> None:
    saved = TuneConfig.from_dict(_cfg(tmp_path, dispatch=" Slot ").to_dict())
    assert saved.dispatch == "slot"
    assert saved.resumed({}).dispatch == "slot"  # --resume keeps how trials were handed out
    assert saved.resumed({"dispatch": "trial"}).dispatch == "trial"
    with pytest.raises(ConfigError, match="--dispatch must be trial or slot, got 'slots'"):
        _cfg(tmp_path, dispatch="slots")
    with pytest.raises(ConfigError, match="drop --no-channel"):
        _cfg(tmp_path, dispatch="slot", channel=False)
