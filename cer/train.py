"""``python -m cer.train`` (and ``accelerate launch -m cer.train ...``): the CE training command.

Only an entry point, kept at this path because it is the command users type; the CE task and its
training run live in :mod:`cer.compound.train`.
"""

from cer.compound.train import main, run, train

__all__ = ["main", "run", "train"]

if __name__ == "__main__":
    main()
