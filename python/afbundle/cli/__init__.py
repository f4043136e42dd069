"""The ``afbundle`` command: pack, inspect, verify, scan, find and strip executable bundles.

A presentation layer over the Python API (:func:`afbundle.pack`,
:func:`afbundle.read_bundle`, :func:`afbundle.scan`, :func:`afbundle.find`,
:func:`afbundle.check_manifest`, :mod:`afbundle.inspection`); every byte is
read, hashed and written by the compiled core. The program inside a bundle
is never executed (except by ``find --exec``, which asks for it).

Layout, in the manner of ruff and fd:

* :mod:`afbundle.cli.main` -- ``main()``: parse, dispatch, map failures to exit statuses;
* :mod:`afbundle.cli.args` -- the argument parser;
* :mod:`afbundle.cli.printer` -- the one place human output and JSON are written
  (escaping of control characters, colour, tables);
* :mod:`afbundle.cli.exit` -- exit statuses and the expected-failure exception;
* one module per command: :mod:`~afbundle.cli.pack`, :mod:`~afbundle.cli.inspect`,
  :mod:`~afbundle.cli.verify`, :mod:`~afbundle.cli.scan`, :mod:`~afbundle.cli.find`,
  :mod:`~afbundle.cli.strip`, each with a ``run(args) -> int``.

Example:
    >>> from afbundle.cli import main
    >>> main(["find", "example_dag", "/opt/airflow/executable-bundles"])
    /opt/airflow/executable-bundles/example
    0
"""

from afbundle.cli.main import main

__all__ = ["main"]
