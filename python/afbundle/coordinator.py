"""An Airflow ``ExecutableCoordinator`` that finds bundles with :func:`afbundle.find`.

It is a drop-in replacement for Airflow's own
``airflow.sdk.coordinators.executable.ExecutableCoordinator``: the same
``[sdk] coordinators`` entry works once its ``classpath`` names this class.
Only the lookup differs. Launching the bundle -- listening sockets, the
``--comm=host:port --logs=host:port`` arguments, accepting connections only
from the child's process tree, draining its early output, the
``task_startup_timeout`` -- is inherited unchanged from Airflow's
``SubprocessCoordinator``.

What the lookup does differently (see :func:`afbundle.find`):

* precedence is defined: roots in the order configured, then byte-wise path
  order within a root, instead of the operating system's directory order;
* a dag_id declared by several bundles is logged as a warning naming the
  bundles it shadows;
* the not-found error lists every bundle that declared the dag_id but was
  refused (bad schema version, hash mismatch, ...) and what was searched;
* only bundles that declare the dag_id are SHA-256-verified, in parallel
  compiled code with the GIL released.

Example ``airflow.cfg``::

    [sdk]
    coordinators = {
        "native": {
          "classpath": "afbundle.ExecutableCoordinator",
          "kwargs": {"executables_root": ["/opt/airflow/executable-bundles"]}
        }
      }
    queue_to_coordinator = {"native": "native"}

This module imports Airflow; install it with ``pip install "afbundle[airflow]"``.
"""

from __future__ import annotations

import pathlib
import sys
from typing import TYPE_CHECKING, Any

from afbundle._coordinator_kwargs import KWARGS, REQUIRED, UNSET, persistent_cache_setting
from afbundle._scan import find

try:
    import attrs
    import structlog
    from airflow.sdk.coordinators._subprocess import SubprocessCoordinator
    from airflow.sdk.execution_time.schema import get_schema_version_migrator
except ImportError as exc:
    raise ImportError(
        f"afbundle.ExecutableCoordinator needs the `airflow` extra "
        f"(pip install 'afbundle[airflow]'): {exc}",
        name=exc.name,
    ) from exc

if TYPE_CHECKING:
    from airflow.sdk.api.datamodels._generated import TaskInstance
    from airflow.sdk.execution_time.coordinator import BaseCoordinator
    from structlog.typing import FilteringBoundLogger

__all__ = ["ExecutableCoordinator"]

log: FilteringBoundLogger = structlog.get_logger(logger_name="afbundle.coordinator")


def _rule(name: str) -> dict[str, Any]:
    """The attrs field options of kwarg ``name``: its rule (:mod:`afbundle._coordinator_kwargs`,
    shared with ``afbundle check``) as the converter, and its default."""
    kwarg = KWARGS[name]
    default = attrs.NOTHING if kwarg.default is REQUIRED else kwarg.default
    return {"default": default, "converter": kwarg.field_converter}


@attrs.define(kw_only=True)
class ExecutableCoordinator(SubprocessCoordinator):
    """Run tasks whose DAG lives in a native executable bundle, found with :func:`afbundle.find`.

    Airflow constructs it from the ``[sdk] coordinators`` configuration, with
    the entry's ``kwargs`` as keyword arguments, and routes the queues named
    in ``[sdk] queue_to_coordinator`` to it. For each task it finds the bundle
    that declares the task's ``dag_id`` and executes it with
    ``--comm=<host:port> --logs=<host:port>`` appended.

    :param executables_root: A directory (or a list of them) searched
        recursively for bundles. ``~`` is expanded. Earlier roots take
        precedence. Required and non-empty: omitting it raises
        :class:`TypeError`, ``None`` or an empty list :class:`ValueError`,
        like Airflow's built-in coordinator. An empty string is a
        :class:`ValueError` too (the built-in would scan the current
        directory).
    :param threads: Walker threads for the directory scan, 1 to 256.
        ``None`` (the default) sizes them for what the roots live on: one per
        CPU on local disks, 16 per CPU (32 to 64) when a root is on a network file system (NFS,
        SMB, FUSE, Ceph, ...), where each system call waits on the network.
    :param persistent_cache: Use the persistent digest cache (default ``True``).
        The in-process cache helps only where one worker process runs many
        tasks (the LocalExecutor reuses its forked workers); the persistent
        one also serves fresh processes (Celery's prefork children after a
        restart, Kubernetes pods sharing a volume, ``airflow tasks run``), so
        a worker skips re-hashing a bundle it already verified, as long as the
        file's device, inode, size, mtime and ctime are unchanged. A cache
        directory that is not private to the worker's user is refused with a
        warning.
    :param digest_cache: The old name of ``persistent_cache``, still accepted
        (giving both with different values is a :class:`ValueError`).
    :param cache_dir: Where the persistent digest cache lives (default
        ``$XDG_CACHE_HOME/afbundle``, else ``~/.cache/afbundle``).
    :param verified_exec: Run a sealed in-memory copy of the bundle whose
        bytes were verified after sealing (:func:`afbundle.seal`), instead of
        the file's path, so replacing the file between the check and the
        launch cannot change what runs. The launched process is a small
        Python launcher (``python -I -m afbundle._launch``) that seals the
        file into its own memfd, checks that the copy is the bundle verified
        here (same ``binary_sha256``, same dag_id), and replaces itself with
        it: no ``/proc`` access to another process, so it works under
        Airflow's non-dumpable supervisor, as a non-root user, without
        ``CAP_SYS_PTRACE``. Costs an interpreter start and one copy and hash
        of the bundle per task; needs Linux memfds, and fails the task (exit
        status 126, the reason on the task's stderr) where they are
        unavailable. Always on when ``trusted_signers`` is set.
    :param trusted_signers: An OpenSSH ``allowed_signers`` file (``~``
        expanded). When set, only bundles with a valid ``BUNDLE.sig`` (an
        ``ssh-keygen -Y sign -n afbundle`` signature) by one of its keys run;
        an unsigned or wrongly signed bundle is passed over like a corrupt one
        (see :func:`afbundle.find`). Read on every task, so editing the file
        takes effect on the next task. Implies ``verified_exec``: the launcher
        checks the signature again over every byte of the sealed copy it runs,
        so what runs is exactly what was signed. (The lookup alone cannot
        promise that: it may take the file's digest from the persistent cache,
        keyed by the file's ``stat``, which some in-place writes do not
        change.) The file and its directories must not be writable by other
        users.
    :param task_startup_timeout: Seconds to wait for the bundle to connect to
        both sockets (inherited from Airflow's ``SubprocessCoordinator``;
        default 10).

    Example ``airflow.cfg``::

        [sdk]
        coordinators = {
            "native": {
              "classpath": "afbundle.ExecutableCoordinator",
              "kwargs": {
                "executables_root": ["/opt/airflow/executable-bundles", "~/bundles"],
                "threads": 8
              }
            }
          }
        queue_to_coordinator = {"native": "native"}

    Example, in Python:

        >>> coordinator = ExecutableCoordinator(executables_root="~/bundles")
        >>> coordinator.executables_root
        [PosixPath('/home/airflow/bundles')]
    """

    executables_root: list[pathlib.Path] = attrs.field(**_rule("executables_root"))
    threads: int | None = attrs.field(**_rule("threads"))
    persistent_cache: bool = attrs.field(**_rule("persistent_cache"))
    # ``digest_cache=``, the old name of ``persistent_cache``: taken in, then consumed
    # (so attrs.evolve and copies carry persistent_cache alone); read it as a property.
    _digest_cache: Any = attrs.field(
        **_rule("digest_cache"), alias="digest_cache", repr=False, eq=False
    )
    cache_dir: pathlib.Path | None = attrs.field(**_rule("cache_dir"))
    verified_exec: bool = attrs.field(**_rule("verified_exec"))
    trusted_signers: pathlib.Path | None = attrs.field(**_rule("trusted_signers"))

    def __attrs_post_init__(self) -> None:
        # Either name may be given (both only if they agree).
        self.persistent_cache = persistent_cache_setting(self.persistent_cache, self._digest_cache)
        self._digest_cache = UNSET

    @property
    def digest_cache(self) -> bool:
        """The old name of :attr:`persistent_cache` (read-only)."""
        return self.persistent_cache

    def _build_execute_task_command(self, *, what: TaskInstance) -> tuple[list[str], str | None]:
        """Find the bundle for ``what.dag_id``; return its path as the command, and its schema.

        The schema version is the bundle's ``sdk.supervisor_schema_version``
        as resolved by Airflow's schema migrator; a bundle whose version does
        not resolve is passed over. The command holds only the bundle path
        (with ``verified_exec`` or ``trusted_signers``: the launcher, the
        path, its ``binary_sha256`` and the dag_id): Airflow appends
        ``--comm`` and ``--logs`` itself.

        Raises:
            afbundle.BundleNotFoundError: (a :class:`FileNotFoundError`) no
                usable bundle declares the dag_id; the message names every
                refused candidate and the roots searched.
        """
        bundle = find(
            self.executables_root,
            what.dag_id,
            resolve_schema_version=get_schema_version_migrator().resolve_version,
            threads=self.threads,
            log=log,
            cache_dir=self.cache_dir,
            persistent_cache=self.persistent_cache,
            trusted_signers=self.trusted_signers,
        )
        log.debug(
            "Executable bundle found",
            dag_id=what.dag_id,
            path=str(bundle.path),
            schema_version=bundle.resolved_schema_version,
        )
        if not self.verified_exec and self.trusted_signers is None:
            return [str(bundle.path)], bundle.resolved_schema_version
        # The launched process seals, re-verifies and execs its own copy (see
        # afbundle._launch): a memfd of this supervisor is out of the child's
        # reach once Airflow has made the supervisor non-dumpable. With signers
        # this is not optional: the lookup's signature check may rest on a
        # remembered digest, the launcher's never does.
        signers = [] if self.trusted_signers is None else ["--signers", str(self.trusted_signers)]
        command = [
            sys.executable,
            "-I",
            "-m",
            "afbundle._launch",
            *signers,
            str(bundle.path),
            bundle.binary_sha256.hex(),
            what.dag_id,
        ]
        log.debug("Launching through a sealed copy", path=str(bundle.path), command=command)
        return command, bundle.resolved_schema_version

    def execute_task(self, **kwargs: Any) -> BaseCoordinator.ExecutionResult:
        """Airflow's launch; a failure to run the bundle is also written to the task log.

        Airflow's supervisor reports an exception raised here (no usable
        bundle, a bundle that never connected) only in the worker's output,
        where the executor logs it; the task log, where users look first, stays
        empty. ``logger`` is the task log's logger that the supervisor passes
        in, so the reason is written there too, then the exception propagates
        unchanged.
        """
        try:
            result: BaseCoordinator.ExecutionResult = super().execute_task(**kwargs)
        except Exception as exc:
            task_log = kwargs.get("logger")
            if task_log is not None:
                what = kwargs.get("what")
                task_log.error(
                    "Cannot run the task's executable bundle",
                    dag_id=getattr(what, "dag_id", None),
                    error_type=type(exc).__name__,
                    error=str(exc),
                )
            raise
        return result
