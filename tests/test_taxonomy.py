import numpy as np
import pytest

from cer.synth.prototypes import BASIC_PROTOTYPES, COMPOUND_PROTOTYPES, RENDERED_AUS, prototype_for
from cer.taxonomy import (
    AFFECTNET,
    AFFWILD2_AUS,
    AFFWILD2_EXPR,
    C_EXPR,
    CE_BASIC,
    RAF_BASIC,
    RAF_COMPOUND,
    compound_components,
    constraint_set,
    to_affwild2_expr,
    to_ce_basic,
)


def test_published_orders():
    assert CE_BASIC.classes == ("surprise", "fear", "disgust", "happiness", "sadness", "anger")
    assert C_EXPR.classes[0] == "Fearfully_Surprised" and C_EXPR.classes[-1] == "Sadly_Angry"
    assert len(C_EXPR) == 7 and len(RAF_COMPOUND) == 11 and len(RAF_BASIC) == 7
    assert AFFWILD2_AUS == (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)
    assert AFFWILD2_EXPR.classes[7] == "Other" and AFFECTNET.classes[7] == "Contempt"


def test_file_labels_are_checked():
    assert RAF_BASIC.from_file_label(1) == 0  # 1 = Surprise
    with pytest.raises(ValueError, match="outside raf-basic's range 1..7"):
        RAF_BASIC.from_file_label(8)


def test_mappings_between_spaces():
    assert to_ce_basic(RAF_BASIC, RAF_BASIC.index("Happiness")) == CE_BASIC.index("happiness")
    assert to_ce_basic(RAF_BASIC, RAF_BASIC.index("Neutral")) is None
    assert to_ce_basic(AFFECTNET, AFFECTNET.index("Contempt")) is None
    assert to_affwild2_expr(AFFECTNET, AFFECTNET.index("Sad")) == AFFWILD2_EXPR.index("Sadness")
    assert to_affwild2_expr(RAF_BASIC, RAF_BASIC.index("Neutral")) == 0


def test_c_expr_is_a_subset_of_raf_compound():
    raf = {frozenset(c.components) for c in constraint_set("raf-compound").classes}
    assert {frozenset(c.components) for c in constraint_set("c-expr").classes} <= raf


def test_component_matrix_and_pairs():
    cset = constraint_set("c-expr")
    m = cset.component_matrix()
    assert m.shape == (7, 6) and (m.sum(1) == 2).all()
    assert cset.classes[0].component_names == ("fear", "surprise")
    assert (0, 3) in cset.allowed_pairs()  # surprise + happiness
    assert (2, 3) not in cset.allowed_pairs()  # happily disgusted is RAF-only
    assert cset.index_of_components((4, 5)) == C_EXPR.index("Sadly_Angry")


def test_constraint_set_from_yaml(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nclasses:\n  Happily_Sad: [happiness, sadness]\n  Awed: [surprise, fear]\n")
    cset = constraint_set(f)
    assert cset.name == "mine" and cset.names == ("Happily_Sad", "Awed")
    np.testing.assert_array_equal(cset.multi_hot(0), [0, 0, 0, 1, 1, 0])
    f.write_text("classes:\n  Bad: [happiness, boredom]\n")
    with pytest.raises(ValueError, match="Bad"):
        constraint_set(f)
    with pytest.raises(KeyError, match="unknown constraint set"):
        constraint_set("c-exp")


def test_compound_names_parse():
    assert compound_components("Happily surprised") == (3, 0)
    with pytest.raises(ValueError):
        compound_components("Happily happy")


def test_prototypes_cover_every_class_with_rendered_aus():
    for c in constraint_set("raf-compound").classes:
        p = prototype_for(c.components)
        assert p.required and set(p.required + p.optional) <= set(RENDERED_AUS) | {11}
    for name in CE_BASIC.classes:
        assert set(BASIC_PROTOTYPES[name].required) <= set(RENDERED_AUS)
    # spot checks against Du, Tao & Martinez (2014), Table 1 (as quoted in DESIGN.md)
    assert COMPOUND_PROTOTYPES[frozenset((3, 0))].required == (1, 2, 12, 25)
    assert COMPOUND_PROTOTYPES[frozenset((1, 0))].required == (1, 2, 5, 20, 25)
    assert COMPOUND_PROTOTYPES[frozenset((4, 5))].required == (4, 15)
    assert COMPOUND_PROTOTYPES[frozenset((2, 0))].required == (1, 2, 5, 10)
