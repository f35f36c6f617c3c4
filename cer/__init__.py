"""Compound facial expression recognition: the shared library (taxonomy, data, trainer, models).

``mtl`` builds on it; ``augment`` stands alone.
"""

__version__ = "0.1.0"
