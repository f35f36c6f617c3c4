"""The small config schemas the config tests share (every field kind a real config uses), and
``error_of``, the message of the ConfigError a load raises (the ``write`` fixture is in conftest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest

from cer.config import ConfigError, load_config


@dataclass
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["cosine", "step"] = "cosine"
    warmup: int | None = None
    clip: Optional[float] = None


@dataclass
class Curriculum:
    epochs: list[int] = field(default_factory=lambda: [2, 2])
    mix: list[float] = field(default_factory=lambda: [0.0, 0.5])

    def __post_init__(self):
        if len(self.epochs) != len(self.mix):
            raise ValueError(f"epochs and mix need the same length ({len(self.epochs)} vs {len(self.mix)})")


@dataclass
class Data:
    root: Path = Path("data")
    name: str = "rafce"
    limit: int | None = None
    shuffle: bool = True
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class Stage:
    name: str  # required: a stage from a file must say which it is
    epochs: int = 1


@dataclass
class Mixup:
    alpha: float = 0.2


@dataclass
class Train:
    seed: int = 0
    data: Data = field(default_factory=Data)
    # A section whose default differs from its class defaults: files must merge over this one.
    optim: Optim = field(default_factory=lambda: Optim(lr=3e-4))
    curriculum: Curriculum = field(default_factory=Curriculum)
    stages: list[Stage] = field(default_factory=list)
    mixup: Mixup | None = None


@dataclass
class Derived:
    epochs: list[int] = field(default_factory=lambda: [1, 2])
    total: int = field(init=False)  # computed, so no file may set it

    def __post_init__(self):
        self.total = sum(self.epochs)


@dataclass
class Summed:
    epochs: list[int] = field(default_factory=lambda: [1, 2])
    total: int = field(init=False, default=0)  # a default that dacite alone would set again after __post_init__

    def __post_init__(self):
        self.total = sum(self.epochs)


@dataclass
class Clip:
    length: int = 1
    tasks: list[str] = field(default_factory=lambda: ["au"])

    def __post_init__(self):
        if self.length < 1:
            raise ValueError(f"length must be >= 1, got {self.length}")


@dataclass
class Video:
    epochs: int = 8
    sequence: Clip = field(default_factory=Clip)
    mixup: Mixup | None = None


@dataclass
class Run:
    name: str  # required at the top level
    data: Data = field(default_factory=Data)

    def __post_init__(self):
        if self.data.limit is not None and self.data.limit < 0:
            raise ValueError("data.limit must not be negative")


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(Train, *args, **kwargs)
    return str(info.value)
