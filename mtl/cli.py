"""The ``mtl`` command line: one sub-command per module (``mtl.<name>:<name>``), imported on use."""

from cer.lazy_group import lazy_cli

COMMANDS = ("train", "extract", "evaluate", "predict", "ablate", "folds")
main = lazy_cli("mtl", {name: f"mtl.{name}:{name}" for name in COMMANDS},
                help="Multi-task affect analysis: AU detection, expression, valence/arousal (ABAW MTL).")

if __name__ == "__main__":
    main()
