"""``python -m afbundle``: the ``afbundle`` command line (see :mod:`afbundle.cli`).

Example:
    $ python -m afbundle find example_dag /opt/airflow/executable-bundles
    /opt/airflow/executable-bundles/example
"""

import sys

from afbundle.cli import main

if __name__ == "__main__":
    sys.exit(main())
