import numpy as np
import torch

from cer.compound.constrained import constrained_argmax, constrained_scores
from cer.taxonomy import C_EXPR, constraint_set


def test_sum_then_argmax_on_hand_made_probabilities():
    cset = constraint_set("c-expr")
    #            surprise fear disgust happy sad anger
    probs = np.array([
        [0.9, 0.8, 0.1, 0.1, 0.1, 0.1],   # fear + surprise
        [0.7, 0.1, 0.1, 0.95, 0.1, 0.1],  # happy + surprise
        [0.1, 0.1, 0.1, 0.1, 0.9, 0.8],   # sad + angry
        [0.1, 0.7, 0.1, 0.1, 0.75, 0.1],  # sad + fear
        # happiness is highest, but "happily disgusted" is not a C-EXPR class: surprise decides
        [0.3, 0.1, 0.6, 0.9, 0.1, 0.1],
    ])
    names = [C_EXPR.classes[i] for i in constrained_argmax(probs, cset)]
    assert names == ["Fearfully_Surprised", "Happily_Surprised", "Sadly_Angry", "Sadly_Fearful",
                     "Happily_Surprised"]
    scores = constrained_scores(probs, cset)
    assert scores.shape == (5, 7) and np.isclose(scores[0, 0], 1.7)


def test_torch_and_numpy_agree():
    probs = torch.rand(50, 6, generator=torch.Generator().manual_seed(0))
    cset = constraint_set("raf-compound")
    np.testing.assert_array_equal(constrained_argmax(probs, cset).numpy(),
                                  constrained_argmax(probs.numpy(), cset))


def test_basic_set_is_plain_argmax():
    probs = np.random.default_rng(0).random((20, 6))
    np.testing.assert_array_equal(constrained_argmax(probs, constraint_set("basic")), probs.argmax(1))
