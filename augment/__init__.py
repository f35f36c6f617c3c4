"""Compound-expression synthesis (CutMix / Mixup with multi-hot labels) and image pipelines.

Standalone: imports neither ``cer`` nor ``mtl``.
"""
