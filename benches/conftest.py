"""Benchmark trees, generated once and kept between runs (AFBUNDLE_BENCH_DIR)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from treegen import BIG, MANY, TreeSpec, generate

BENCH_DIR = Path(os.environ.get("AFBUNDLE_BENCH_DIR", "/tmp/afbundle-bench"))
SCALE = float(os.environ.get("AFBUNDLE_BENCH_SCALE", "1"))


def _scaled(spec: TreeSpec) -> TreeSpec:
    if SCALE == 1:
        return spec
    return TreeSpec(
        bundles=max(2, int(spec.bundles * SCALE)),
        bundle_kib=spec.bundle_kib,
        others=int(spec.others * SCALE),
        dirs=max(1, int(spec.dirs * SCALE)),
    )


@pytest.fixture(scope="session", params=["MANY", "BIG"])
def tree(request: pytest.FixtureRequest) -> tuple[str, Path]:
    spec = {"MANY": MANY, "BIG": BIG}[request.param]
    return request.param, generate(BENCH_DIR / request.param, _scaled(spec))
