"""``mtl ablate``: each MTL config x seed, tabulated as mean ± std of P_MTL and its parts, on the
shared runner :mod:`cer.sweep` (the one ``cer ablate`` uses).

The shipped sweeps (``sweeps/mtl/``) are the tables of papers 002 (Tables 2, 3, 5: fusion, S/W,
joint sets) and 004 (Tables 1-4: heads, BatchNorm, ANFL/SAM, cross attention), one YAML per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from cer.sweep import SweepKind, sweep, sweep_options


def describe(config: Path, overlays: Sequence[Path] = (), overrides: Sequence[str] = ()) -> dict[str, str]:
    """The settings a row of an MTL table differs in, as run (with the overlays and overrides)."""
    from cer.config import load_config
    from mtl.affect_tasks import parse_tasks
    from mtl.config import MTLConfig

    cfg = load_config(MTLConfig, [config, *overlays], overrides)
    m, s = cfg.model, cfg.sequence
    heads = [f"au {m.au_head}", f"va {m.va_head}"] + (["cross attention"] if m.cross_attention else [])
    return {"tasks": ",".join(parse_tasks(cfg.tasks.joint)), "weights": m.checkpoint or "random",
            "fuse": ",".join(cfg.fuse.runs) or "-",
            "S/W": f"{s.length}/{s.stride or s.length}",
            "temporal": m.temporal if s.length > 1 else "-",  # single frames have no temporal module
            "heads": ", ".join(heads), "au loss": cfg.loss.au,
            "expr loss": cfg.loss.expr if cfg.loss.expr != "focal" else f"focal(gamma={cfg.loss.focal_gamma:g})",
            "optimiser": cfg.optim.name if cfg.optim.name != "sam" else f"sam({cfg.optim.sam_base})"}


# P_MTL first: it decides whether a run is done (a run of any task set has it, partial or not).
# AU F1 with per-AU thresholds tuned on the same frames beside the one at 0.5: a head whose
# probabilities stay under 0.5 (ANFL's cosine after a few epochs) scores 0 at 0.5 whatever it ranks.
MTL_SWEEP = SweepKind(module="mtl.train", describe=describe, metrics=(
    ("val_p_mtl", "P_MTL"), ("val_f1_au", "AU F1"), ("val_f1_au_tuned", "AU F1 (tuned thresholds)"),
    ("val_f1_expr", "EXPR F1"), ("val_ccc_v", "CCC V"), ("val_ccc_a", "CCC A")))


@click.command("ablate", context_settings={"help_option_names": ["-h", "--help"]})
@sweep_options("MTL", "a real-data or backbone file")
def ablate(configs: tuple[Path, ...], seeds: int, out: Path, overlays: tuple[Path, ...],
           overrides: tuple[str, ...]) -> None:
    """Train every CONFIG with every seed, then write OUT/ablation.md and OUT/ablation.csv (P_MTL and
    its parts, mean ± std; a part a row does not train shows -)."""
    sweep(MTL_SWEEP, configs, seeds, out, overlays, overrides)
