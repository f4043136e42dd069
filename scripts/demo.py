"""`make demo`: pack a small bundle tree, scan it, find a dag, run the winner.

Everything is generated: a C "DAG program" compiled with the machine's cc
(or, without a compiler, a copy of /bin/true), packed as bundles for several
languages, plus files that are not bundles, one corrupted bundle and one
duplicate dag_id, so the scan has something to say about each.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import afbundle

HELLO_C = b"""#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from a bundled DAG program (%d args)\\n", argc - 1);
    return 0;
}
"""


def manifest(language: str, source: str, dags: dict[str, list[str]]) -> dict:
    return {
        "airflow_bundle_metadata_version": "1.0",
        "sdk": {
            "language": language,
            "version": "0.1.0",
            "supervisor_schema_version": "2026-06-16",
        },
        "source": source,
        "dags": {dag_id: {"tasks": tasks} for dag_id, tasks in dags.items()},
    }


def build_binary(work: Path) -> Path:
    src = work / "hello.c"
    src.write_bytes(HELLO_C)
    binary = work / "hello"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        subprocess.run([cc, "-O2", "-o", str(binary), str(src)], check=True)
    else:
        shutil.copy("/bin/true", binary)
    return binary


def main() -> int:
    # The API logs warnings (a dag_id declared twice) to the `afbundle` logger.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo-tree")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        binary = build_binary(Path(tmp))
        layout = {
            "example": ("go", "example.go", {"example_dag": ["extract", "transform", "load"]}),
            "team-a/pipeline": ("rust", "main.rs", {"pipeline_dag": ["run"], "backfill": ["run"]}),
            "team-b/analytics": ("cpp", "analytics.cpp", {"analytics_dag": ["aggregate"]}),
            "team-b/zz-old-pipeline": ("zig", "main.zig", {"pipeline_dag": ["run"]}),
        }
        for rel, (language, source, dags) in layout.items():
            out = root / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            afbundle.pack(binary, out, manifest=manifest(language, source, dags), source=HELLO_C)
    # Things a real executables_root also holds.
    (root / "README.md").write_text("bundles live here\n")
    (root / "tool.sh").write_text("#!/bin/sh\necho not a bundle\n")
    os.chmod(root / "tool.sh", 0o755)
    broken = root / "team-b" / "broken"
    data = bytearray((root / "team-b" / "analytics").read_bytes())
    data[100] ^= 0xFF  # corrupt the binary region: the trailer's hash no longer matches
    broken.write_bytes(bytes(data))
    os.chmod(broken, 0o755)

    report = afbundle.scan([root])
    print(f"scanned {root}: {report.stats.files_seen} files, {len(report.bundles)} bundles")
    for bundle in report.bundles:
        meta = bundle.metadata
        print(
            f"  {bundle.path.relative_to(root.resolve())!s:<24} "
            f"{meta['sdk']['language']:<5} {', '.join(bundle.dag_ids):<28} "
            f"{bundle.size:>8} B  {'verified' if bundle.verified else 'unverified'}"
        )
    for rejection in report.rejected:
        print(f"  rejected {rejection.path.name}: [{rejection.kind}] {rejection.reason}")
    for dag_id, paths in report.duplicates.items():
        losers = ", ".join(p.name for p in paths[1:])
        print(f"  duplicate {dag_id!r}: {paths[0].name} wins over {losers}")

    bundle = afbundle.find([root], "pipeline_dag")
    print(f"find('pipeline_dag') -> {bundle.path} (schema {bundle.supervisor_schema_version})")
    run = subprocess.run(
        [str(bundle.path), "--comm=127.0.0.1:0", "--logs=127.0.0.1:0"],
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"ran it: {run.stdout.strip()}")
    try:
        afbundle.find([root], "no_such_dag")
    except afbundle.BundleNotFoundError as exc:
        print(f"find('no_such_dag') -> {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
