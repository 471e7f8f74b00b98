"""gristmill's engine layer: workspace, catalog, scoring, curation, reviews; its version is gristmill's."""
__version__ = "0.1.0"
