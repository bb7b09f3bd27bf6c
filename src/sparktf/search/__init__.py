"""Search spaces and Optuna wiring (no Spark, no TensorFlow)."""
