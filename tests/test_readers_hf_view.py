"""The Hugging Face view: columns, masks, the Image feature, and an exact round trip."""

import math

import numpy as np
import pytest
from datasets import Dataset
from PIL import Image

from cer.data import FaceRecord, from_hf_dataset, to_hf_dataset

RECORDS = [
    FaceRecord(
        image="a.jpg", video="v1", space="affwild2-expr", expression=3, aus=(1, 0) * 6, valence=0.1, arousal=-0.7
    ),
    FaceRecord(image="b.jpg", subject="s2", space="affwild2-expr", aus=(-1,) * 11 + (1,)),
    FaceRecord(image="c.jpg", space="raf-compound", expression=10),
]


def test_columns_and_masks():
    ds = to_hf_dataset(RECORDS)
    assert len(ds) == 3
    assert ds["expression"][:] == [3, -1, 10]
    assert ds["has_expression"][:] == [True, False, True]
    assert ds["has_va"][:] == [True, False, False]
    assert ds["au_mask"][1] == [False] * 11 + [True]
    assert ds["au_mask"][2] == [False] * 12 and ds["aus"][2] is None
    assert math.isnan(ds["valence"][1]) and ds["frame"][0] is None


def test_round_trip_is_exact():
    assert from_hf_dataset(to_hf_dataset(RECORDS)) == RECORDS


def test_image_feature_only_for_image_files(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray(np.full((4, 6, 3), 200, dtype=np.uint8)).save(path)
    ds = to_hf_dataset([FaceRecord(image=str(path))])
    assert ds[0]["pixels"].size == (6, 4)
    video = to_hf_dataset([FaceRecord(image="clip.mp4", frame=2), *RECORDS])
    assert "pixels" not in video.column_names
    assert from_hf_dataset(video)[0].frame == 2


def test_from_hf_dataset_names_absent_columns():
    with pytest.raises(ValueError, match="lacks column.*space, expression"):
        from_hf_dataset(Dataset.from_dict({"image": ["a.jpg"], "frame": [None], "video": [None], "subject": [None],
                                           "aus": [None], "valence": [0.0], "arousal": [0.0]}))
