"""The built-in MAE encoder: built once into the cache, reused, rebuilt when renderer or recipe change."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.builtin_encoder  # these tests build the encoder, on tiny settings


@pytest.fixture
def counted_builds(tiny_synth, tmp_path, monkeypatch):
    """builtin_encoder on the tiny faces in a fresh cache, with the pretraining runs it starts counted."""
    import cer.pretrain.command as command
    from cer.pretrain import builtin

    monkeypatch.setenv("CER_CACHE", str(tmp_path / "cache"))
    raf = tiny_synth / "raf-db"
    tiny = [f"data.train=[{{reader: raf-db-basic, path: '{raf}', options: {{split: train}}}}]",
            f"data.val={{reader: raf-db-basic, path: '{raf}', options: {{split: test}}}}",
            "model.decoder_embed_dim=32", "model.decoder_depth=1", "model.decoder_num_heads=2",
            "epochs=1", "optim.batch_size=16", "train.progress=false"]
    runs = []
    real_run = command.run

    def counting_run(*args, **kwargs):
        runs.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(command, "run", counting_run)

    def build(*extra: str):
        return builtin.builtin_encoder("vit_face_tiny", 32, [*tiny, *extra])

    build.tiny = tiny
    return build, runs


def test_the_encoder_is_built_once_and_reused(counted_builds):
    from cer.models.backbone import create_backbone
    from cer.models.checkpoint import load_backbone_weights

    build, runs = counted_builds
    first = build()
    assert len(runs) == 1 and first.is_file()
    stamp = first.stat().st_mtime_ns
    assert build() == first and len(runs) == 1  # found in the cache: no second pretraining
    assert first.stat().st_mtime_ns == stamp
    assert not list(first.parent.parent.glob(".*building"))  # the building folder was moved into place
    report = load_backbone_weights(create_backbone("vit_face_tiny", 32, 6), first)
    assert {k.split(".")[0] for k in report.missing} == {"fc_norm", "head"}


def test_a_new_renderer_version_or_pretraining_config_builds_a_new_encoder(counted_builds, monkeypatch):
    import cer.synth.generate as generate

    build, runs = counted_builds
    first = build()
    monkeypatch.setattr(generate, "SYNTH_VERSION", generate.SYNTH_VERSION + 1)
    second = build()
    assert len(runs) == 2 and second != first and second.is_file()
    third = build("model.mask_ratio=0.6")
    assert len(runs) == 3 and third not in (first, second)
    assert build("model.mask_ratio=0.6") == third and len(runs) == 3


def test_builtin_mae_asks_the_pretrain_command_for_the_encoder_and_other_values_pass_through(
        counted_builds, monkeypatch):
    import subprocess

    from cer.builtin_checkpoint import resolve_checkpoint

    build, _ = counted_builds
    path = build()
    asked = []

    def answer(command, **kwargs):  # what `cer pretrain --builtin` does once the encoder is cached
        asked.append(command)
        out = command[command.index("--write-path") + 1]
        with open(out, "w") as f:
            f.write(str(path))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", answer)
    assert resolve_checkpoint("builtin-mae", "vit_face_tiny", 32) == str(path)
    assert asked[0][1:6] == ["-m", "cer.cli", "pretrain", "--builtin", "--set"]
    assert "model.name=vit_face_tiny" in asked[0] and "model.img_size=32" in asked[0]
    assert resolve_checkpoint("weights/mine.safetensors", "vit_face_tiny", 32) == "weights/mine.safetensors"
    assert resolve_checkpoint(None, "vit_face_tiny", 32) is None and len(asked) == 1


def test_the_builtin_command_writes_the_path_it_finds(counted_builds, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cer.pretrain import builtin
    from cer.pretrain.command import pretrain

    build, runs = counted_builds
    path = build()
    # The command builds for the defaults' recipe; point it at the tiny one the fixture cached.
    original = builtin.builtin_settings
    monkeypatch.setattr(builtin, "builtin_settings", lambda name, img_size: [*original(name, img_size), *build.tiny])
    result = CliRunner().invoke(pretrain, ["--builtin", "--set", "model.img_size=32",
                                           "--write-path", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p").read_text() == str(path) and len(runs) == 1


def test_a_distributed_run_is_told_to_build_the_encoder_first(tiny_synth, tmp_path, monkeypatch):
    from cer.pretrain.builtin import builtin_encoder

    monkeypatch.setenv("CER_CACHE", str(tmp_path))
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="cer pretrain --builtin"):
        builtin_encoder("vit_face_tiny", 32)


def test_ce_and_mtl_start_from_the_builtin_encoder_by_default():
    from cer.compound.config import CEConfig
    from mtl.config import MTLConfig

    assert CEConfig().model.checkpoint == "builtin-mae" and MTLConfig().model.checkpoint == "builtin-mae"
