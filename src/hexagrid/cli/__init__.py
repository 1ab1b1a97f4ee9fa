"""The ``hexagrid`` command line: one module per command group, registered in :mod:`hexagrid.cli.main`."""
