"""A Keras callback that reports the monitored validation metric after every epoch."""

from __future__ import annotations

from typing import Any

import keras
from sparktf.trial import current_trial


class ReportCallback(keras.callbacks.Callback):
    """Report ``monitor`` to the driver after each epoch; stop training when told to.

    Works inside a sparktf trial; outside one it does nothing. When the driver prunes the
    trial, training ends at the end of the current epoch and the history is kept; after the
    last epoch there is nothing left to save, so the trial completes (and is evaluated).

    Args:
        monitor: the Keras log key to report (default ``val_accuracy``).
    """

    def __init__(self, monitor: str = "val_accuracy") -> None:
        super().__init__()
        self.monitor = monitor

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        ctx = current_trial()
        if ctx is not None and set(ctx.measures) & {"params", "model_bytes"}:
            from sparktf.keras.measures import known_measures

            ctx.announce(known_measures(self.model, ctx.measures))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        ctx = current_trial()
        logs = logs or {}
        if ctx is None or self.monitor not in logs:
            return
        final = epoch + 1 >= int(self.params.get("epochs") or 0) > 0
        if ctx.should_stop(epoch + 1, float(logs[self.monitor]), final=final):
            self.model.stop_training = True
