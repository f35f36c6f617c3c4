"""Data readers: one per published format, all returning :class:`FaceRecord` lists."""

from cer.data.affectnet import read_affectnet
from cer.data.affwild2_mtl import MtlReadStats, filter_task, read_affwild2_mtl, task_counts
from cer.data.affwild2_tracks import read_affwild2_tracks
from cer.data.c_expr_db import read_c_expr_db
from cer.data.errors import DataFormatError, MissingImagesError
from cer.data.hf_view import from_hf_dataset, to_hf_dataset
from cer.data.image_folder import read_image_folder
from cer.data.image_loader import load_rgb
from cer.data.manifest import read_manifest
from cer.data.raf_db import read_raf_db
from cer.data.record import FaceRecord
from cer.data.registry import READERS, read

__all__ = [
    "READERS",
    "DataFormatError",
    "FaceRecord",
    "MissingImagesError",
    "MtlReadStats",
    "filter_task",
    "from_hf_dataset",
    "load_rgb",
    "read",
    "read_affectnet",
    "read_affwild2_mtl",
    "read_affwild2_tracks",
    "read_c_expr_db",
    "read_image_folder",
    "read_manifest",
    "read_raf_db",
    "task_counts",
    "to_hf_dataset",
]
