"""For objectives: talk to the driver from inside a running trial.

from sparktf.trial import report

def objective(params, data):
    for epoch in range(1, 11):
        ...
        report(epoch, val_accuracy)   # raises TrialPruned when the pruner stops the trial
    return val_accuracy
"""

from sparktf.errors import TrialPruned
from sparktf.execution.context import current_trial, known, report

__all__ = ["TrialPruned", "current_trial", "known", "report"]
