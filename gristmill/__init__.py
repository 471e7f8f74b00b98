"""gristmill: a data engine for image-text and video-text training corpora."""
from curation import __version__

__all__ = ["__version__"]
