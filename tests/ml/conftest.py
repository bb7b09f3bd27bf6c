"""The inference tests' tiny model and images serve the ML stage's tests too."""

from tests.inference.conftest import good_images, gray_model_path

__all__ = ["good_images", "gray_model_path"]
