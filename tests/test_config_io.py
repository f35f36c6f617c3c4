"""Configs written back: to_dict / from_dict round trips, dump_yaml then load_config, flatten for
TensorBoard, derived fields, and what YAML cannot store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from config_schemas import (
    Curriculum,
    Data,
    Derived,
    Mixup,
    Optim,
    Stage,
    Summed,
    Train,
)

from cer.config import ConfigError, dump_yaml, flatten, from_dict, load_config, to_dict


def busy_config() -> Train:
    return Train(
        seed=7, data=Data(root=Path("/d"), name="1e-3", limit=3, weights={"au": 1.5}),
        optim=Optim(lr=1e-5, betas=(0.8, 0.9), schedule="step", clip=1.0),
        curriculum=Curriculum(epochs=[1, 2, 3], mix=[0.0, 0.5, 1.0]),
        stages=[Stage("a", 3), Stage("b")], mixup=Mixup(0.3),
    )


def test_to_dict_is_plain_and_round_trips_through_from_dict():
    config = busy_config()
    data = to_dict(config)
    assert data["optim"]["betas"] == [0.8, 0.9] and data["data"]["root"] == "/d"
    assert data["stages"] == [{"name": "a", "epochs": 3}, {"name": "b", "epochs": 1}]
    yaml.safe_dump(data)  # YAML-safe: raises on tuples, paths or dataclasses
    assert from_dict(Train, data) == config
    assert from_dict(Train, {}) == Train()


def test_from_dict_is_strict():
    expected = r"^<dict>: unknown key 'sed' at the top level \(did you mean 'seed'\?\)$"
    with pytest.raises(ConfigError, match=expected):
        from_dict(Train, {"sed": 1})
    with pytest.raises(ConfigError, match=r"^run/config.yaml: 'data.limit' expects int \| null"):
        from_dict(Train, {"data": {"limit": "x"}}, source="run/config.yaml")


def test_dump_yaml_then_load_config_gives_an_equal_config(tmp_path):
    config = busy_config()
    path = tmp_path / "run" / "config.yaml"
    dump_yaml(config, path)
    assert load_config(Train, [path]) == config
    text = path.read_text()
    assert "epochs: [1, 2, 3]" in text and "name: '1e-3'" in text  # inline lists; float-like strings quoted


def test_flatten_gives_scalars_with_dotted_keys():
    flat = flatten(busy_config())
    assert flat["seed"] == 7 and flat["optim.lr"] == 1e-5 and flat["data.weights.au"] == 1.5
    assert flat["curriculum.epochs"] == "[1, 2, 3]" and flat["optim.warmup"] == "null"
    assert flat["data.root"] == "/d" and flat["mixup.alpha"] == 0.3
    assert all(isinstance(v, (bool, int, float, str)) for v in flat.values())
    assert flatten({"a": {"b": {"c": 1}}, "e": {}}, sep="/") == {"a/b/c": 1, "e": "{}"}
    assert len(flatten(Train())) == len(flatten(to_dict(Train())))


def test_float_values_survive_the_round_trip(tmp_path):
    config = Train(optim=Optim(lr=math.pi * 1e-7, clip=1e20))
    dump_yaml(config, tmp_path / "c.yaml")
    assert load_config(Train, [tmp_path / "c.yaml"]) == config


def test_derived_fields_are_neither_settable_nor_dumped():
    assert load_config(Derived, overrides=["epochs=[3, 4]"]).total == 7
    with pytest.raises(ConfigError, match="unknown key 'total' at the top level"):
        load_config(Derived, overrides=["total=3"])
    assert to_dict(Derived()) == {"epochs": [1, 2]}


def test_derived_field_with_a_default_keeps_its_post_init_value():
    assert load_config(Summed, overrides=["epochs=[3, 4]"]).total == 7
    assert from_dict(Summed, {}).total == 3


def test_to_dict_refuses_values_yaml_cannot_store():
    with pytest.raises(TypeError, match="'data.root' holds a value of type 'object'"):
        to_dict(Train(data=Data(root=object())))
