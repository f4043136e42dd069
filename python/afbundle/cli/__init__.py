"""The ``afbundle`` command: pack, inspect, verify, scan, find, strip and sign bundles; check DAGs.

A presentation layer over the public Python API only (names in
``afbundle.__all__`` and the public modules :mod:`afbundle.errors`,
:mod:`afbundle.inspection` and :mod:`afbundle.check`: :func:`afbundle.pack`,
:func:`afbundle.read_bundle`, :func:`afbundle.scan`, :func:`afbundle.find`,
:func:`afbundle.sign`, :func:`afbundle.check_manifest`,
:func:`afbundle.check_dags`, ...); every byte is read, hashed and written by
the compiled core. The program inside a bundle is never executed (except by
``find --exec``, which asks for it).

Layout, in the manner of ruff and fd:

* :mod:`afbundle.cli.main` -- ``main()``: parse, dispatch, map failures to exit statuses;
* :mod:`afbundle.cli.args` -- the argument parser;
* :mod:`afbundle.cli.printer` -- the one place human output and JSON are written
  (escaping of control characters, colour, tables);
* :mod:`afbundle.cli.exit` -- exit statuses, the expected-failure exception and
  ``--signers`` (read once per run);
* one module per command: :mod:`~afbundle.cli.pack`, :mod:`~afbundle.cli.inspect`,
  :mod:`~afbundle.cli.verify`, :mod:`~afbundle.cli.scan`, :mod:`~afbundle.cli.find`,
  :mod:`~afbundle.cli.strip`, :mod:`~afbundle.cli.sign`, :mod:`~afbundle.cli.check`,
  each with a ``run(args) -> int``.

Example:
    >>> from afbundle.cli import main
    >>> main(["find", "example_dag", "/opt/airflow/executable-bundles"])
    /opt/airflow/executable-bundles/example
    0
"""

from afbundle.cli.main import main

__all__ = ["main"]
