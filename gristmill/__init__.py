"""gristmill: a data engine for image-text and video-text training corpora."""
__version__ = "0.1.0"
