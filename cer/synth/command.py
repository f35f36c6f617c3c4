"""``cer synth``: write synthetic data sets in the layouts of RAF-DB, Aff-Wild2 and C-EXPR-DB."""

from __future__ import annotations

from pathlib import Path

import click

LAYOUT_CHOICES = ("raf-db", "aff-wild2", "c-expr-db", "all")
SCALE_CHOICES = ("tiny", "small", "default")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--layout", type=click.Choice(LAYOUT_CHOICES), default="all", show_default=True,
              help="Which data set layout to write.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of everything drawn; the same seed writes the same bytes.")
@click.option("--scale", type=click.Choice(SCALE_CHOICES), default="default", show_default=True,
              help="How much to write: tiny (tests, seconds), small (~5x tiny), default (training).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Rendering processes [default: number of CPUs]; the output does not depend on it.")
@click.option("--preview", is_flag=True, help="Also write OUT/contact_sheet.png, faces of every class.")
@click.option("--overwrite", is_flag=True,
              help="Write into a non-empty OUT, replacing the layout folders written.")
def synth(out: Path, layout: str, seed: int, scale: str, workers: int | None, preview: bool,
          overwrite: bool) -> None:
    """Render synthetic FACS faces into OUT in the layouts of the real data sets.

    OUT/raf-db (basic and compound stills), OUT/aff-wild2 (face-crop videos with VA, EXPR and AU
    labels, MTL and per-video track files) and OUT/c-expr-db (H.264 videos of compound
    expressions, with ground truth and face boxes). Each holds a SYNTH_INFO.json of what it wrote.
    The data readers, the trainer and the predictor read them as they read the real sets.
    """
    from cer.synth.generate import generate

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise click.UsageError(
            f"{out} is not empty: choose an empty or new folder, or pass --overwrite to replace "
            "the layout folders written there"
        )
    infos = generate(out, layout=layout, seed=seed, scale=scale, workers=workers)
    for name, info in infos.items():
        click.echo(f"{out / name}: {_summary(name, info)}")
    if preview:
        from cer.synth.preview import contact_sheet

        sheet = contact_sheet(out / "contact_sheet.png", seed=seed)
        click.echo(f"{sheet}: contact sheet")


def _summary(layout: str, info: dict) -> str:
    """One line of what a layout's SYNTH_INFO says was written."""
    if layout == "raf-db":
        b, c = info["basic"], info["compound"]
        return (f"basic {b['train']} train / {b['test']} test, compound {c['train']} train / "
                f"{c['test']} test, {info['identities']['train']} + {info['identities']['test']} "
                f"identities, {info['image_size']} px")
    if layout == "aff-wild2":
        t, v = info["training"], info["validation"]
        return (f"{len(info['videos']['train'])} train + {len(info['videos']['validation'])} "
                f"validation videos, {t['unique']} + {v['unique']} frames "
                f"({t['duplicates']} + {v['duplicates']} repeated MTL rows), {info['image_size']} px")
    w, h = info["size"]
    return f"{info['videos']} videos, {info['frames']} frames at {w}x{h}, {info['fps']} fps"
