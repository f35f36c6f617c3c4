"""Multi-task affect analysis (AU, expression, valence/arousal) on the shared ``cer`` trainer."""
