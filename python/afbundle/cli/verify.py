"""``afbundle verify``: one ``OK``/``FAIL`` line per file; ``--check-manifest`` (older name
``--strict``) adds the manifest checks (the spec's schema, and dag or task keys Airflow's YAML
1.1 reader types differently)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

import afbundle
from afbundle.cli.exit import ExitCode, signers_option
from afbundle.cli.printer import plain, plural, print_json, shown, stdout_palette, warn
from afbundle.errors import BundleError, BundleSignatureError, ManifestError


@dataclasses.dataclass
class VerifyResult:
    """The outcome for one ``afbundle verify`` argument."""

    path: str
    kind: str | None = None
    reason: str | None = None
    violations: list[afbundle.ManifestFinding] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: With ``--signers``: the principal that signed it (when ok), or which
    #: signature check failed (kind ``signature``).
    signed_by: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind is None

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "kind": self.kind,
            "reason": self.reason,
            "violations": [{"path": v.path, "message": v.message} for v in self.violations],
            "warnings": self.warnings,
            **({"signed_by": self.signed_by} if self.signed_by is not None else {}),
            **({"problem": self.problem} if self.problem is not None else {}),
        }


def verify_one(
    path: str, *, check_manifest: bool, signers: afbundle.TrustedSigners | None = None
) -> VerifyResult:
    """Read and SHA-256-verify one bundle; with ``check_manifest``, also check its manifest;
    with ``signers``, also its signature ``PATH.sig`` (kind ``signature`` if not valid).

    A directory or an unreadable file is kind ``io`` (exit status 2).

    Example:
        >>> verify_one("dist/hello", check_manifest=True).ok
        True
    """
    if os.path.isdir(path):
        return VerifyResult(path, "io", "is a directory, not a file")
    try:
        bundle = afbundle.read_bundle(path, verify=True, trusted_signers=signers)
    except BundleSignatureError as exc:
        return VerifyResult(path, exc.kind, exc.reason, problem=exc.problem)
    except BundleError as exc:
        return VerifyResult(path, exc.kind, exc.reason)
    except OSError as exc:
        return VerifyResult(path, "io", exc.strerror or str(exc))
    if not check_manifest:
        return VerifyResult(path, signed_by=bundle.signed_by)
    try:
        metadata = bundle.metadata
        raw = bundle.read_manifest()
    except ManifestError as exc:
        return VerifyResult(path, exc.kind, exc.reason)
    except OSError as exc:
        return VerifyResult(path, "io", exc.strerror or str(exc))
    schema = afbundle.check_manifest(metadata)
    text = afbundle.check_manifest(raw, schema=False)
    lint = [f for f in text if f.code == "yaml-1.1"]
    violations = [f for f in schema if f.severity == "error"]
    retyped = [f for f in text if f.code == "retyped-key"]
    result = VerifyResult(path, signed_by=bundle.signed_by)
    if violations or retyped:
        counts = [
            *([plural(len(violations), "schema violation")] if violations else []),
            *([plural(len(retyped), "retyped dag or task key")] if retyped else []),
        ]
        details = "; ".join(f"{v.path}: {v.message}" for v in (*violations, *retyped))
        reason = f"manifest has {' and '.join(counts)}: {details}"
        result = VerifyResult(
            path, "schema", reason, [*violations, *retyped], signed_by=bundle.signed_by
        )
    result.warnings = [
        f"manifest line {i.line}: {i.path}: {i.message}" if i.line else f"{i.path}: {i.message}"
        for i in lint
    ]
    return result


def run(args: argparse.Namespace) -> int:
    signers = signers_option(args.signers)
    results = [
        verify_one(path, check_manifest=args.check_manifest, signers=signers) for path in args.paths
    ]
    if args.json:
        print_json(
            {
                "command": "verify",
                "check_manifest": args.check_manifest,
                "strict": args.check_manifest,  # the older name of check_manifest
                "results": [r.as_json() for r in results],
                "ok": sum(r.ok for r in results),
                "failed": sum(not r.ok for r in results),
            }
        )
    else:
        palette = stdout_palette()
        for r in results:
            for warning in r.warnings:
                warn(f"{shown(r.path)}: {plain(warning)}")
            if r.ok:
                by = f" (signed by {shown(r.signed_by)})" if r.signed_by is not None else ""
                print(f"{palette.good('OK')} {shown(r.path)}{by}")
            else:
                print(f"{palette.bad('FAIL')} {shown(r.path)}: {plain(r.reason)}")
    if any(r.kind == "io" for r in results):
        return ExitCode.ERROR
    return ExitCode.OK if all(r.ok for r in results) else ExitCode.INVALID
