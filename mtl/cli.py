"""The ``mtl`` command line: one sub-command per module, imported on use."""

from cer.lazy_group import lazy_cli

main = lazy_cli("mtl", {
    "train": "mtl.train:train",
    "extract": "mtl.extract:extract",
    "evaluate": "mtl.evaluate:evaluate",
    "predict": "mtl.predict:predict",
}, help="Multi-task affect analysis: AU detection, expression, valence/arousal (ABAW MTL).")

if __name__ == "__main__":
    main()
