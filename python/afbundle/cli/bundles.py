"""What ``inspect``, ``scan`` and ``find`` show about one bundle, from the core's ``Bundle``."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import TYPE_CHECKING, Any

from afbundle.errors import ManifestError
from afbundle.inspection import regions

if TYPE_CHECKING:
    from afbundle import Bundle, Rejection
    from afbundle.inspection import Trailer


def metadata_of(bundle: Bundle) -> tuple[dict[Any, Any] | None, str | None]:
    """The manifest as Python objects, or ``None`` and why it cannot be (e.g. a list as a key)."""
    try:
        return bundle.metadata, None
    except ManifestError as exc:
        return None, exc.reason


def text_at(mapping: Any, *keys: str) -> str | None:
    """The string at ``mapping[k1][k2]...``, or ``None``."""
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping if isinstance(mapping, str) else None


@dataclasses.dataclass(frozen=True)
class DagSummary:
    """One entry of a manifest's ``dags``: its id and task_ids (``None`` if not a list)."""

    dag_id: str
    tasks: list[str] | None


def dag_summaries(bundle: Bundle | None) -> list[DagSummary]:
    """The dags Airflow routes to ``bundle``, with their task_ids, as the core read them.

    Example:
        >>> dag_summaries(afbundle.read_bundle("dist/pipeline"))
        [DagSummary(dag_id='d', tasks=['a', 'b'])]
    """
    if bundle is None:
        return []
    tasks = bundle.tasks
    return [
        DagSummary(d, None if tasks.get(d) is None else list(tasks[d] or ()))
        for d in bundle.dag_ids
    ]


def bundle_json(
    layout: Bundle | Trailer, metadata: dict[Any, Any] | None, verified: bool | None
) -> dict[str, Any]:
    """The ``bundle`` object of the ``--json`` output (see scan-output.schema.json).

    ``layout`` is the core's ``Bundle``, or -- when the manifest could not be
    read -- the bundle's :class:`~afbundle.inspection.Trailer`.
    """
    from afbundle import Bundle

    if isinstance(layout, Bundle):
        dag_ids = list(layout.dag_ids)
        schema_version = layout.supervisor_schema_version
    else:  # the manifest could not be read
        dag_ids, schema_version = [], None
    out: dict[str, Any] = {
        "path": os.fsdecode(layout.path),
        "size": layout.size,
        "footer_version": layout.footer_version,
        "regions": {
            name: {"offset": offset, "length": length} for name, offset, length in regions(layout)
        },
        "binary_sha256": layout.binary_sha256.hex(),
        "verified": verified,
        "dag_ids": dag_ids,
        "metadata_version": text_at(metadata, "airflow_bundle_metadata_version"),
        "language": text_at(metadata, "sdk", "language"),
        "sdk_version": text_at(metadata, "sdk", "version"),
        "supervisor_schema_version": schema_version,
        "source_name": text_at(metadata, "source"),
    }
    signed_by = layout.signed_by if isinstance(layout, Bundle) else None
    if signed_by is not None:
        out["signed_by"] = signed_by
    return out


def rejection_json(rejection: Rejection) -> dict[str, Any]:
    """A rejected bundle in the ``--json`` output: path, kind and reason, and for
    kind ``signature`` which check failed (``problem``, as
    :attr:`afbundle.BundleSignatureError.problem`)."""
    out: dict[str, Any] = {
        "path": os.fsdecode(rejection.path),
        "kind": rejection.kind,
        "reason": rejection.reason,
    }
    if rejection.kind == "signature":
        out["problem"] = str(rejection.context.get("problem", "bad_signature"))
    return out


def jsonable(value: Any) -> Any:
    """A manifest value as JSON: non-string keys become their YAML spelling, bytes hex."""
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else json.dumps(jsonable(k)): jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
