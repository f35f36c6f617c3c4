"""Shared fixtures: one tiny synthetic data set per test session (all three layouts)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """Root holding raf-db/, aff-wild2/ and c-expr-db/ at the tiny scale, seed 0."""
    from cer.synth.generate import generate

    root = tmp_path_factory.mktemp("synth-tiny")
    generate(root, layout="all", seed=0, scale="tiny", workers=2)
    return root
