"""Declarative curation recipes: the YAML model (model.py), SQL compilation (compile.py), dedup (dedup.py).

Built-in recipes live in builtin/*.yaml, one file per recipe named after it; `curation.curate` runs them.
"""
