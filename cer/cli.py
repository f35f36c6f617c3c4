"""The ``cer`` command line: one sub-command per module, imported on use."""

from cer.lazy_group import lazy_cli

main = lazy_cli("cer", {
    "synth": "cer.synth.command:synth",
    "train": "cer.compound.train:train",
    "pretrain": "cer.pretrain.command:pretrain",
    "probe": "cer.compound.probe:probe",
    "evaluate": "cer.compound.evaluate:evaluate",
    "ablate": "cer.compound.ablate:ablate",
    "folds": "cer.compound.folds:folds",
    "predict": "cer.predict.command:predict",
}, help="Compound facial expression recognition: synthesise data, train, evaluate, predict.")

if __name__ == "__main__":
    main()
