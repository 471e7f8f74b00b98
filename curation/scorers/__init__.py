"""Scorers: one module per scorer, all behind the interface in `base`; look them up through `registry`."""
