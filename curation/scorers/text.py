"""`text`: caption language (langid, whose model ships with the package), length, repetition and junk rules.

Junk rules, first match wins; the rule name is `junk_kind` (a stable reason string):
    empty        no letter or digit at all
    url          a web address (http://..., www....)
    filename     a file or camera name: "IMG_1234.jpg", "DSC01234", "photo.png", "PXL_20230101_..."
    boilerplate  a placeholder that says nothing: "image", "untitled", "no image available", ...
    repetitive   4+ words of which at least half repeat an earlier word
A junk caption gets language "und" (undetermined) and no language score: langid's guess on it is noise.
"""
import importlib.metadata
import re

from curation.scorers.base import Sample, Scorer

UNDETERMINED = "und"
REPETITIVE_MIN_WORDS = 4
REPETITIVE_SHARE = 0.5

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")  # a CJK character counts as one word
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)\S+$|^\S+\.(?:com|org|net|io|co|de|fr|uk)(?:/\S*)?$", re.I)
_FILE_EXT = r"\.(?:jpe?g|png|gif|webp|bmp|tiff?|heic|avif|svg|mp4|mov|webm|avi|mkv)"
_FILENAME = re.compile(
    rf"^\S+{_FILE_EXT}$"  # anything.jpg
    r"|^(?:img|dsc[nf]?|dcim|pxl|mvimg|vid|mov|gopr|dji|sam|p)[_-]?\d{3,}\S*$"  # camera names
    r"|^screen[\s_-]?shot\b.*\d"  # "Screenshot 2023-01-01 at 10.00.00"
    r"|^(?:image|photo|picture|untitled)[\s_-]*\d[\d\s_.:-]*$",  # "image 003"
    re.I,
)
_BOILERPLATE = frozenset(
    {
        "image", "images", "img", "photo", "photos", "picture", "pic", "untitled", "untitled image", "thumbnail",
        "thumb", "placeholder", "default", "null", "none", "n a", "na", "no image", "no image available",
        "image not found", "no description", "no description available", "click to enlarge", "click here",
        "stock photo", "stock image", "download", "loading", "logo", "icon", "banner", "file", "unknown",
    }
)

_identifier = None


def _langid():
    """langid's identifier with normalised probabilities, built once per process."""
    global _identifier
    if _identifier is None:
        from langid.langid import LanguageIdentifier, model

        _identifier = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    return _identifier


def words(caption: str) -> list[str]:
    """Lower-cased words: runs of letters/digits, each CJK character on its own."""
    return [w.lower() for w in _WORD.findall(caption)]


def repetition(tokens: list[str]) -> float:
    """Fraction of words that repeat an earlier word (0 for an empty caption)."""
    return (len(tokens) - len(set(tokens))) / len(tokens) if tokens else 0.0


def junk_kind(caption: str, tokens: list[str]) -> str | None:
    """Which junk rule the caption matches (see the module docstring), or None."""
    stripped = caption.strip()
    if not tokens:
        return "empty"
    if _URL.match(stripped):
        return "url"
    if _FILENAME.match(stripped):
        return "filename"
    if " ".join(tokens) in _BOILERPLATE:
        return "boilerplate"
    if len(tokens) >= REPETITIVE_MIN_WORDS and repetition(tokens) >= REPETITIVE_SHARE:
        return "repetitive"
    return None


def text_values(sample: Sample) -> dict:
    """The `text` value columns of a sample's caption (a missing caption counts as empty)."""
    caption = sample.caption or ""
    tokens = words(caption)
    kind = junk_kind(caption, tokens)
    language, score = UNDETERMINED, None
    if kind is None:
        language, prob = _langid().classify(caption)
        score = float(prob)
    return {
        "language": language,
        "language_score": score,
        "n_chars": len(caption),
        "n_words": len(tokens),
        "repetition": repetition(tokens),
        "is_junk": kind is not None,
        "junk_kind": kind,
    }


class TextScorer(Scorer):
    """Caption statistics; see the module docstring."""

    name = "text"
    version = "1"

    @property
    def model_id(self) -> str:
        """The language model in use: langid's bundled model, named by the package version."""
        return f"langid/{importlib.metadata.version('langid')}"

    def preparer(self):
        return text_values

    def _score(self, samples: list[Sample]) -> list[dict]:
        return [s.prepared[self.name] for s in samples]
