"""One module per CLI subcommand; see :mod:`sparktf.cli`."""
