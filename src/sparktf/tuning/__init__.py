"""``sparktf.tune``: distributed hyperparameter search of Keras models (or any objective) on Spark.

Example::

    import sparktf
    result = sparktf.tune(
        "mnist_cnn",
        {"neurons": sparktf.choice([64, 256, 1024]),
         "learning_rate": sparktf.loguniform(1e-5, 1e-2)},
        data="fashion-mnist", trials=32, sampler="tpe", seed=7, out="runs/fmnist-1",
    )
    print(result.best_params, result.best_value)

Modules: ``config`` (TuneConfig, checked on construction), ``objectives`` (what a study
optimises), ``data``, ``outputs`` (trials.csv, best/, the result), ``resume``, ``display``
(progress and summary), ``api`` (``tune()`` itself).
"""

from sparktf.errors import StudyFailed
from sparktf.tuning.api import tune
from sparktf.tuning.config import TuneConfig
from sparktf.tuning.objectives import keras_builder, resolve_objective
from sparktf.tuning.outputs import TuneResult, trials_frame

__all__ = [
    "StudyFailed",
    "TuneConfig",
    "TuneResult",
    "keras_builder",
    "resolve_objective",
    "trials_frame",
    "tune",
]
