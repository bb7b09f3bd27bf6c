"""Data sets: IDX files, MNIST / Fashion-MNIST loaders, image export."""

from sparktf.datasets.idx import parse_idx, read_idx, write_idx
from sparktf.datasets.images import export_images
from sparktf.datasets.mnist import (
    DATASETS,
    FASHION_MNIST,
    MNIST,
    DatasetSpec,
    ImageDataset,
    get_spec,
    load,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "DATASETS",
    "FASHION_MNIST",
    "MNIST",
    "DatasetSpec",
    "ImageDataset",
    "export_images",
    "get_spec",
    "load",
    "load_fashion_mnist",
    "load_mnist",
    "parse_idx",
    "read_idx",
    "write_idx",
]
