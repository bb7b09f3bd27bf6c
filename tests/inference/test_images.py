"""Decoding and resizing: equal to Keras' own preprocessing; bad bytes give readable reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparktf.errors import ConfigError
from sparktf.imaging import ImageSpec, RowError, decode_image, from_pixels, to_batch
from sparktf.inference.labels import imagenet_labels, imagenet_synsets, read_labels
from tests.inference.badimages import write_bad_images
from tests.inference.conftest import encode, photo


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize(
    ("fmt", "channels", "source_mode"),
    [("JPEG", 3, "RGB"), ("PNG", 3, "RGBA"), ("PNG", 1, "L"), ("PNG", 1, "RGB"), ("GIF", 3, "P")],
)
def test_decode_resize_equals_keras_load_img(
    tmp_path: Path, interpolation: str, fmt: str, channels: int, source_mode: str
) -> None:
    from keras.utils import img_to_array, load_img
    from PIL import Image

    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(photo(37, 53)).convert(source_mode).save(path, fmt)
    spec = ImageSpec(24, 29, channels, interpolation=interpolation)
    ours = decode_image(path.read_bytes(), spec)
    theirs = img_to_array(
        load_img(
            path,
            color_mode="grayscale" if channels == 1 else "rgb",
            target_size=(24, 29),
            interpolation=interpolation,
        )
    )
    assert ours.shape == (24, 29, channels) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours.astype(np.float32), theirs)


def test_same_size_is_not_resampled_and_scaling_maps_into_unit_range() -> None:
    pic = photo(28, 28)[:, :, 0]
    spec = ImageSpec(28, 28, 1)
    arr = decode_image(encode(pic, "PNG"), spec)
    np.testing.assert_array_equal(arr[:, :, 0], pic)
    batch = to_batch([arr, arr], spec)
    assert batch.dtype == np.float32 and batch.shape == (2, 28, 28, 1)
    np.testing.assert_allclose(batch[0, :, :, 0], pic / 255.0, rtol=1e-6)


def test_applications_preprocess_input_is_used() -> None:
    from keras.applications.mobilenet_v2 import preprocess_input

    arr = decode_image(encode(photo(10, 10), "PNG"), ImageSpec(10, 10, 3))
    spec = ImageSpec(10, 10, 3, preprocess="mobilenet_v2")
    expected = preprocess_input(arr[None].astype(np.float32))
    np.testing.assert_allclose(to_batch([arr], spec), expected, rtol=1e-6)
    assert to_batch([arr], spec).min() >= -1.0


def test_every_bad_file_gives_its_reason_and_odd_modes_are_converted(tmp_path: Path) -> None:
    expected = write_bad_images(tmp_path)
    spec = ImageSpec(28, 28, 3)
    for name, reason in expected.items():
        data = (tmp_path / name).read_bytes()
        if reason is None:
            arr = decode_image(data, spec)
            assert arr.shape == (28, 28, 3), name
            assert 40 < arr.mean() < 220, f"{name} decoded to a nearly flat image"
        else:
            with pytest.raises(RowError) as info:
                decode_image(data, spec)
            assert info.value.reason.value == reason, name
            assert info.value.text.startswith(reason + ": ") and len(info.value.text) > 20


def test_sixteen_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    from PIL import Image

    pic = photo(20, 20)[:, :, 0]
    Image.fromarray((pic.astype(np.uint16) * 257).astype(np.uint16)).save(tmp_path / "a.png")
    arr = decode_image((tmp_path / "a.png").read_bytes(), ImageSpec(20, 20, 1))
    np.testing.assert_array_equal(arr[:, :, 0], pic)


def test_pixel_limit_is_configurable() -> None:
    data = encode(photo(100, 100), "PNG")
    with pytest.raises(RowError, match="image_too_large: 100x100 = 10000 pixels"):
        decode_image(data, ImageSpec(28, 28, 3, max_pixels=9999))
    assert decode_image(data, ImageSpec(28, 28, 3, max_pixels=10000)).shape == (28, 28, 3)


def test_idx_pixels_are_resized_like_files() -> None:
    pic = photo(28, 28)[:, :, 0]
    spec = ImageSpec(14, 14, 1, interpolation="bilinear")
    np.testing.assert_array_equal(from_pixels(pic, spec), decode_image(encode(pic, "PNG"), spec))


def test_bad_image_spec_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="grayscale"):
        ImageSpec(28, 28, 4)
    with pytest.raises(ConfigError, match="interpolation"):
        ImageSpec(28, 28, 3, interpolation="cubic-ish")


def test_imagenet_labels_are_keras_labels() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000 and len(set(imagenet_synsets())) == 1000
    assert labels[0] == "tench" and labels[973] == "coral_reef" and labels[983] == "scuba_diver"
    assert labels[109] == "brain_coral" and imagenet_synsets()[0] == "n01440764"


def test_read_labels_forms(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("cat\ndog\nbird\n\n")
    (tmp_path / "b.json").write_text('["cat", "dog"]')
    (tmp_path / "c.json").write_text('{"1": ["n2", "dog"], "0": ["n1", "cat"]}')
    assert read_labels(tmp_path / "a.txt") == ("cat", "dog", "bird")
    assert read_labels(tmp_path / "b.json") == ("cat", "dog")
    assert read_labels(tmp_path / "c.json") == ("cat", "dog")
    with pytest.raises(ConfigError, match="cannot read label file"):
        read_labels(tmp_path / "missing.txt")
