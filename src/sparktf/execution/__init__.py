"""Running trials on Spark: driver-side dispatcher, executor-side runner, report channel."""
