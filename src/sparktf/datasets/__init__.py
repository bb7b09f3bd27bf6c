"""Data sets: IDX files, MNIST / Fashion-MNIST loaders, image export, your own data (class
folders and tables: planned on the driver, decoded there or read from the path by executors)."""

from sparktf.datasets.idx import parse_idx, read_idx, write_idx
from sparktf.datasets.images import export_images
from sparktf.datasets.materialize import TableDataset, materialize
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
from sparktf.datasets.plan import DataForm, DataOptions, DataPlan, make_plan
from sparktf.datasets.remote import PathData

__all__ = [
    "DATASETS",
    "FASHION_MNIST",
    "MNIST",
    "DataForm",
    "DataOptions",
    "DataPlan",
    "DatasetSpec",
    "ImageDataset",
    "PathData",
    "TableDataset",
    "export_images",
    "get_spec",
    "load",
    "load_fashion_mnist",
    "load_mnist",
    "make_plan",
    "materialize",
    "parse_idx",
    "read_idx",
    "write_idx",
]
