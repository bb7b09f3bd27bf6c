"""How a trial travels to its Spark task (a local property of the trial's job)."""

from __future__ import annotations

import pytest

from sparktf.execution.backends.classic import TASK_PROPERTY, decode_task, encode_task
from sparktf.execution.runner import TrialTask


def test_a_trial_survives_the_trip_as_text() -> None:
    task = TrialTask(
        number=3,
        params={"neurons": 64, "learning_rate": 1e-3, "optimizer": "adam"},
        attempt=2,
        metric="val_accuracy",
        direction="maximize",
        monitor="val_accuracy",
        channel=None,
        best_value=0.91,
        val_fraction=0.1,
    )
    text = encode_task(task)
    assert isinstance(text, str) and text.isascii()
    assert decode_task(text) == task


@pytest.mark.parametrize("text", [None, ""])
def test_a_job_without_a_trial_says_so(text: str | None) -> None:
    with pytest.raises(RuntimeError, match=TASK_PROPERTY):
        decode_task(text)


def test_a_property_that_holds_something_else_is_refused() -> None:
    import base64
    import pickle

    with pytest.raises(TypeError, match="not a TrialTask"):
        decode_task(base64.b64encode(pickle.dumps({"number": 1})).decode())
