"""The strict config system: defaults, files merged in order, --set overrides, and every error path."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_schemas import (
    Clip,
    Curriculum,
    Data,
    Mixup,
    Optim,
    Run,
    Stage,
    Train,
    Video,
    error_of,
)

from cer.config import ConfigError, Override, load_config


def test_defaults_come_from_the_dataclass():
    assert load_config(Train) == Train()
    assert load_config(Train).optim.lr == 3e-4


def test_one_file_changes_only_what_it_names(write):
    path = write("seed: 3\ndata:\n  limit: 200\noptim:\n  schedule: step\n  lr: 1e-3\n")
    config = load_config(Train, [path])
    assert config.seed == 3 and config.data.limit == 200
    assert config.data.name == "rafce"  # untouched key of a touched section
    assert config.optim == Optim(lr=1e-3, schedule="step")  # '1e-3' is a float, not PyYAML's string
    assert config.curriculum == Curriculum()


def test_section_merges_over_its_field_default_not_its_class_default(write):
    config = load_config(Train, [write("optim:\n  schedule: step\n")])
    assert config.optim.lr == 3e-4


def test_two_files_merge_in_order(write):
    first = write("seed: 1\ncurriculum:\n  epochs: [5, 5, 5]\n  mix: [0, 0.1, 0.2]\ndata:\n  name: a\n",
                  "a.yaml")
    second = write("curriculum:\n  epochs: [1, 1, 1]\ndata:\n  limit: 7\n", "b.yaml")
    config = load_config(Train, [first, second])
    assert config.seed == 1
    # Lists are replaced, not joined.
    assert config.curriculum == Curriculum(epochs=[1, 1, 1], mix=[0.0, 0.1, 0.2])
    assert config.data.name == "a" and config.data.limit == 7  # sections merged key by key
    assert load_config(Train, [second, first]).curriculum.epochs == [5, 5, 5]


def test_overrides_parse_yaml_values_and_come_after_files(write):
    path = write("seed: 1\ndata:\n  limit: 5\n")
    config = load_config(Train, [path], [
        "curriculum.epochs=[1,1,1,1]", "curriculum.mix=[0, 0.2, 0.4, 1]", "optim.lr=0.2",
        "data.shuffle=false", "data.limit=null", "data.name=affectnet", "seed=9", "optim.warmup=100",
        "data.root=/tmp/x", "optim.betas=[0.5, 0.6]", "data.weights={au: 2, va: 0.5}", "mixup={alpha: 1}",
    ])
    assert config.curriculum == Curriculum(epochs=[1, 1, 1, 1], mix=[0.0, 0.2, 0.4, 1.0])
    assert config.optim.lr == 0.2 and config.optim.warmup == 100 and config.optim.betas == (0.5, 0.6)
    assert config.data == Data(root=Path("/tmp/x"), name="affectnet", limit=None, shuffle=False,
                               weights={"au": 2.0, "va": 0.5})
    assert config.seed == 9 and config.mixup == Mixup(alpha=1.0)


def test_override_falls_back_to_the_raw_text_for_string_fields():
    assert load_config(Train, overrides=["data.name=001"]).data.name == "001"
    assert load_config(Train, overrides=["data.name=no"]).data.name == "no"
    assert load_config(Train, overrides=["data.name=[oops"]).data.name == "[oops"
    assert "'data.limit' expects int | null, got '001x'" in error_of(overrides=["data.limit=001x"])


def test_unknown_key_in_file_names_file_line_section_and_suggestion(write):
    path = write("seed: 1\ncurriculum:\n  epoch: [1]\n")
    expected = f"{path}:3: unknown key 'epoch' in section 'curriculum' (did you mean 'epochs'?)"
    assert error_of([path]) == expected


def test_unknown_key_without_close_match_lists_known_keys(write):
    path = write("\n\nzzz: 1\n")
    assert error_of([path]) == (f"{path}:3: unknown key 'zzz' at the top level "
                                "(known keys: seed, data, optim, curriculum, stages, mixup)")


def test_unknown_key_in_override():
    message = error_of(overrides=["curriculum.epoch=[1]"])
    assert message == ("--set curriculum.epoch=[1]: unknown key 'epoch' in section 'curriculum' "
                       "(did you mean 'epochs'?)")
    assert "unknown key 'dta' at the top level (did you mean 'data'?)" in error_of(overrides=["dta.limit=3"])


@pytest.mark.parametrize("text", ["seed", "=3", ""])
def test_override_without_key_and_value_is_an_error(text):
    assert "expected KEY=VALUE" in error_of(overrides=[text])


def test_override_cannot_reach_inside_a_value():
    message = error_of(overrides=["data.weights.au=2"])
    assert "'data.weights' is a value, not a section: set it whole" in message


@pytest.mark.parametrize("text, expected", [
    ("seed: abc", "c.yaml:1: 'seed' expects int, got 'abc' (str)"),
    ("seed: 1.5", "'seed' expects int, got 1.5 (float)"),
    ("seed: true", "'seed' expects int, got True (bool)"),
    ("optim:\n  lr: true", "c.yaml:2: 'optim.lr' expects float, got True (bool)"),
    ("optim:\n  lr: fast", "'optim.lr' expects float, got 'fast' (str)"),
    ("data:\n  name: 12", "'data.name' expects str, got 12 (int)"),
    ("data:\n  shuffle: 1", "'data.shuffle' expects bool, got 1 (int)"),
    ("data:\n  root: 3", "'data.root' expects Path, got 3 (int)"),
    ("curriculum:\n  epochs: 3", "'curriculum.epochs' expects list[int], got 3 (int)"),
    ("curriculum:\n  epochs: [1, x]", "'curriculum.epochs[1]' expects int, got 'x' (str)"),
    ("optim:\n  betas: [0.9]", "'optim.betas' expects 2 items (tuple[float, float]), got 1"),
    ("optim:\n  betas: [0.9, a]", "'optim.betas[1]' expects float, got 'a' (str)"),
    ("data:\n  weights: [1]", "'data.weights' expects dict[str, float], got [1] (list)"),
    ("data:\n  weights: {au: x}", "'data.weights.au' expects float, got 'x' (str)"),
    ("data:\n  weights: {1: 2.0}", "'data.weights key 1' expects str, got 1 (int)"),
    ("optim:\n  warmup: soon", "'optim.warmup' expects int | null, got 'soon' (str)"),
    ("optim:\n  clip: [1]", "'optim.clip' expects float | null, got [1] (list)"),
    ("seed: {a: 1}", "'seed' expects int, got a mapping; it is a value, not a section"),
    ("data: 3", "c.yaml:1: 'data' is a section: give it a mapping of its keys, got 3 (int)"),
    ("data:", "'data' is a section: give it a mapping of its keys, got null"),
    ("stages: [3]", "'stages[0]' expects a mapping (Stage), got 3 (int)"),
])
def test_wrong_types_name_key_expected_type_and_value(write, text, expected):
    assert expected in error_of([write(text)])


def test_int_is_accepted_for_float_and_becomes_float(write):
    config = load_config(Train, [write("optim:\n  lr: 1\n  clip: 5\n")])
    assert type(config.optim.lr) is float and config.optim.lr == 1.0 and config.optim.clip == 5.0


def test_literal_lists_allowed_values_and_suggests(write):
    path = write("optim:\n  schedule: cosin\n")
    assert error_of([path]) == (f"{path}:2: 'optim.schedule' expects one of 'cosine', 'step', "
                                "got 'cosin' (str) (did you mean 'cosine'?)")
    assert load_config(Train, [write("optim:\n  schedule: step\n")]).optim.schedule == "step"


def test_optional_value_takes_null_or_the_type(write):
    assert load_config(Train, [write("optim:\n  warmup: 5\n")]).optim.warmup == 5
    assert load_config(Train, [write("optim:\n  warmup: null\n")]).optim.warmup is None


def test_optional_section_takes_a_mapping_or_null(write):
    assert load_config(Train, [write("mixup: {alpha: 0.4}\n")]).mixup == Mixup(alpha=0.4)
    on, off = write("mixup: {alpha: 0.4}\n", "on.yaml"), write("mixup: null\n", "off.yaml")
    assert load_config(Train, [on, off]).mixup is None
    assert load_config(Train, [off], ["mixup.alpha=0.1"]).mixup == Mixup(alpha=0.1)


def test_dataclasses_inside_lists_are_built_strictly(write):
    config = load_config(Train, [write("stages:\n  - name: a\n  - {name: b, epochs: 2}\n")])
    assert config.stages == [Stage("a"), Stage("b", 2)]
    path = write("stages:\n  - name: a\n    epoch: 2\n")
    expected = f"{path}:3: unknown key 'epoch' in section 'stages[0]' (did you mean 'epochs'?)"
    assert error_of([path]) == expected
    message = error_of([write("stages: [{epochs: 2}]")])
    assert "missing required key(s) 'name' in section 'stages[0]'" in message


def test_post_init_error_names_section_and_where(write):
    path = write("seed: 1\ncurriculum:\n  epochs: [1, 1, 1]\n")
    assert error_of([path]) == (f"{path}:2: invalid section 'curriculum': "
                                "epochs and mix need the same length (3 vs 2)")
    message = error_of(overrides=["curriculum.epochs=[1]"])
    assert message.startswith("--set curriculum.epochs=[1]: invalid section 'curriculum'")


def test_post_init_sees_the_merged_section_not_each_file(write):
    # Each file alone breaks the length check; together they satisfy it.
    first = write("curriculum:\n  epochs: [1, 1, 1]\n", "a.yaml")
    second = write("curriculum:\n  mix: [0, 0, 1]\n", "b.yaml")
    assert load_config(Train, [first, second]).curriculum == Curriculum([1, 1, 1], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_changes_nothing(write, text):
    assert load_config(Train, [write(text)]) == Train()


@pytest.mark.parametrize("text, shown", [
    ("- a\n- b\n", "['a', 'b'] (list)"),
    ("just text\n", "'just text' (str)"),
])
def test_file_that_is_not_a_mapping_is_an_error(write, text, shown):
    path = write(text)
    assert error_of([path]) == f"{path}: the top level must be a mapping of keys to values, got {shown}"


def test_yaml_syntax_error_names_file_and_line(write):
    path = write("seed: 1\ndata:\n  limit: [1, 2\n  name: x\n")
    assert error_of([path]) == (f"{path}:4: invalid YAML: expected ',' or ']', but got ':' "
                                "(while parsing a flow sequence started on line 3)")


def test_duplicate_key_is_an_error_not_a_silent_last_wins(write):
    path = write("seed: 1\ndata:\n  limit: 3\n  limit: 4\n")
    expected = f"{path}:4: invalid YAML: duplicate key 'limit' (first given on line 3): keep one"
    assert error_of([path]) == expected


def test_missing_file_is_an_error(tmp_path):
    path = tmp_path / "nope.yaml"
    assert error_of([path]) == f"{path}: config file not found; check the path"


def test_schema_must_be_a_dataclass():
    with pytest.raises(TypeError, match="must be a dataclass type"):
        load_config(dict)


def test_errors_inside_values_name_the_item_and_its_line(write):
    path = write("stages:\n  - {name: a, epochs: 1}\n  - name: 1\n")  # the first 1 is fine: the second is wrong
    assert error_of([path]) == f"{path}:3: 'stages[1].name' expects str, got 1 (int)"
    path = write("data:\n  weights:\n    au: 1\n    va: x\n")
    assert error_of([path]) == f"{path}:4: 'data.weights.va' expects float, got 'x' (str)"


def test_typed_overrides_land_as_given_in_order():
    config = load_config(Video, overrides=[
        "sequence.length=5", Override("sequence.length", 20, "--seq 20"),
        Override("sequence.tasks", ("au", "v"), "--joint au,v"), Override("mixup", {"alpha": 1}, "--mixup 1"),
    ])
    assert config.sequence == Clip(length=20, tasks=["au", "v"]) and config.mixup == Mixup(alpha=1.0)
    assert type(config.mixup.alpha) is float
    assert load_config(Video, overrides=[Override("sequence.length", 20, "--seq 20"), "sequence.length=5"]) \
        .sequence.length == 5
    assert load_config(Video, overrides=[Override("mixup", None, "--no-mixup")]).mixup is None
    assert load_config(Video, overrides=[Override("sequence", Clip(3), "--clip")]).sequence == Clip(3)


@pytest.mark.parametrize("override, expected", [
    (Override("sequence.length", "20", "--seq 20"), "--seq 20: 'sequence.length' expects int, got '20' (str)"),
    (Override("sequence.length", True, "--seq"), "--seq: 'sequence.length' expects int, got True (bool)"),
    # the value is not read as YAML
    (Override("sequence.tasks", "[au]", "--joint [au]"),
     "--joint [au]: 'sequence.tasks' expects list[str], got '[au]' (str)"),
    (Override("sequence.tasks", ["au", 1], "--joint au,1"),
     "--joint au,1: 'sequence.tasks[1]' expects str, got 1 (int)"),
    (Override("sequence.lenght", 20, "--seq 20"),
     "--seq 20: unknown key 'lenght' in section 'sequence' (did you mean 'length'?)"),
    (Override("epochs.n", 2, "--epochs 2"), "--epochs 2: 'epochs' is a value, not a section: set it whole"),
    (Override("sequence", 20, "--seq 20"), "--seq 20: 'sequence' is a section: give it a mapping of its keys"),
    (Override("sequence.length", 0, "--seq 0"), "--seq 0: invalid section 'sequence': length must be >= 1, got 0"),
])
def test_typed_override_errors_name_the_option(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(Video, overrides=[override])
    assert str(info.value).startswith(expected)


def test_top_level_checks_and_required_keys(write):
    path = write("name: x\ndata:\n  limit: -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(Run, [path], ["name=y"])
    assert str(info.value) == f"{path}, --set name=y: invalid config: data.limit must not be negative"
    with pytest.raises(ConfigError, match="^missing required key\\(s\\) 'name' at the top level$"):
        load_config(Run)
    assert load_config(Run, overrides=["name=r1"]) == Run(name="r1")


def test_cpu_threads_share_the_cores_and_an_explicit_setting_wins():
    import os

    from cer.trainer import cpu_threads

    cores = len(os.sched_getaffinity(0))
    assert cpu_threads(None, 1) == cores  # accelerate launch's OMP_NUM_THREADS=1 does not leave cores idle
    assert cpu_threads(None, cores) == 1
    assert cpu_threads(None, 4 * cores) == 1
    assert cpu_threads(3, 1) == 3
