"""``sparktf data``: inspect data sets and export them as image files."""

from __future__ import annotations

import argparse
from typing import Any

from sparktf.datasets import DATASETS


def register(sub: Any) -> None:
    """Add ``data`` and its subcommands to the CLI."""
    p = sub.add_parser(
        "data",
        help="find, inspect and export MNIST-format data sets",
        description="Find, inspect and export the MNIST-format data sets sparktf knows.",
    )
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    where = (
        "Looked for in --data-dir, $SPARKTF_DATA, /usr/share/datasets/<name> (Debian), the user "
        "cache, then downloaded from the public mirrors (SHA-256 checked)."
    )

    info = dsub.add_parser("info", help="where a data set is and its shapes", description=where)
    info.add_argument("dataset", choices=sorted(DATASETS), help="data set name")
    info.add_argument("--data-dir", help="directory holding the four IDX files")
    info.add_argument("--no-download", action="store_true", help="never download")
    info.set_defaults(func=run_info)

    ex = dsub.add_parser(
        "export-images",
        help="write a split as PNG files with a labels.csv",
        description="Write a split of a data set as NNNNN.png files and a labels.csv "
        "(file,index,label,label_name), e.g. as input for 'sparktf predict'. " + where,
    )
    ex.add_argument("dataset", choices=sorted(DATASETS), help="data set name")
    ex.add_argument("dir", help="output directory (created if missing)")
    ex.add_argument("--split", choices=("train", "test"), default="test", help="default: test")
    ex.add_argument("--limit", type=int, default=None, help="export only the first N images")
    ex.add_argument(
        "--class-folders",
        action="store_true",
        help="one subfolder per class (DIR/<class>/NNNNN.png), as 'sparktf tune --data DIR' reads",
    )
    ex.add_argument("--data-dir", help="directory holding the four IDX files")
    ex.add_argument("--no-download", action="store_true", help="never download")
    ex.set_defaults(func=run_export)


def run_info(args: argparse.Namespace) -> int:
    """Print where the data set was found and the shapes of its arrays."""
    from sparktf.datasets import load

    ds = load(args.dataset, data_dir=args.data_dir, download=not args.no_download)
    print(f"{ds.name}: {ds.source}")
    print(f"  train: images {ds.x_train.shape} {ds.x_train.dtype}, labels {ds.y_train.shape}")
    print(f"  test:  images {ds.x_test.shape} {ds.x_test.dtype}, labels {ds.y_test.shape}")
    print(f"  classes: {', '.join(ds.class_names)}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export a split as PNG files."""
    from sparktf.console import progress
    from sparktf.datasets import export_images, load
    from sparktf.errors import ConfigError

    if args.limit is not None and args.limit <= 0:
        raise ConfigError(f"--limit must be a positive number of images, got {args.limit}")
    ds = load(args.dataset, data_dir=args.data_dir, download=not args.no_download)
    images, labels = ds.split(args.split)
    n = len(images) if args.limit is None else min(args.limit, len(images))
    with progress() as bar:
        task = bar.add_task(f"export {ds.name}/{args.split}", total=n, status="")
        csv_path = export_images(
            images,
            labels,
            args.dir,
            class_names=ds.class_names,
            limit=n,
            progress=lambda done: bar.update(task, completed=done),
            class_folders=args.class_folders,
        )
    print(f"wrote {n} PNG files and {csv_path}")
    return 0
