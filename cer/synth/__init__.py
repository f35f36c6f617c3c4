"""Synthetic FACS faces, written in the layouts of the real data sets (``cer synth``).

No face data set can be downloaded everywhere, so the project renders faces driven by facial
action units and writes them as RAF-DB, Aff-Wild2 and C-EXPR-DB are published; the real readers,
the trainer and the predictor then run on them unchanged.

- ``identity``, ``face``, ``scene``, ``preview``: the renderer;
- ``expression``: expression targets -> AU intensities and every label;
- ``episodes``: expression episodes of video clips;
- ``layouts``: one writer per data set layout;
- ``generate``: ``generate()`` at a named scale, and ``default_layout()`` (the cached ones, each rendered on first use);
- ``command``: the ``cer synth`` command.
"""
