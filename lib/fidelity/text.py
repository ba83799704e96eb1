"""Label text: the words on the photo's label, read with tesseract (Debian's tesseract-ocr language data,
through tesserocr's in-process API: one engine per process, about 20 ms a label instead of a process start).

Only "stable" words count: at least three letters or digits, read with high confidence both from the photo and
from a slightly softened copy of it, so a word the OCR itself is unsure of never becomes a finding. The
generated image's label is warped into the photo's frame before it is read, so both are read the same way up.
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

MIN_CONF = 70.0
_lock = threading.Lock()
_api: Any = None
_api_failed = False


@dataclass(frozen=True)
class Word:
    text: str  # as read
    key: str  # upper-case letters and digits only: what is compared
    conf: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the image read


def tessdata_dir() -> str | None:
    """Where the installed language data is (TESSDATA_PREFIX, else Debian's tesseract-ocr-eng)."""
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = ([env] if env else []) + sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"), reverse=True)
    for d in candidates:
        if d and os.path.exists(os.path.join(d, "eng.traineddata")):
            return d
    return None


def available() -> bool:
    return _engine() is not None


def _engine() -> Any:
    global _api, _api_failed
    if _api is not None or _api_failed:
        return _api
    path = tessdata_dir()
    try:
        import tesserocr  # noqa: PLC0415  (a missing OCR only switches the text check off)

        if path is None:
            raise RuntimeError("no eng.traineddata")
        _api = tesserocr.PyTessBaseAPI(path=path, lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)
    except (ImportError, RuntimeError):
        _api_failed = True
    return _api


def key_of(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def read(rgb: np.ndarray) -> list[Word]:
    """The words tesseract reads in an RGB image (empty when OCR is not installed)."""
    api = _engine()
    if api is None or rgb.size == 0:
        return []
    import tesserocr  # noqa: PLC0415

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    words: list[Word] = []
    with _lock:
        api.SetImage(Image.fromarray(gray))
        api.Recognize()
        it = api.GetIterator()
        level = tesserocr.RIL.WORD
        for r in tesserocr.iterate_level(it, level):
            try:
                text = (r.GetUTF8Text(level) or "").strip()
            except RuntimeError:  # "No text returned": an empty page
                break
            box = r.BoundingBox(level)
            if text and box:
                words.append(Word(text=text, key=key_of(text), conf=float(r.Confidence(level)), box=tuple(box)))
    return words


def stable_words(rgb: np.ndarray) -> list[Word]:
    """Words read confidently from the photo and from a softened, smaller copy of it (see the module docstring)."""
    first = [w for w in read(rgb) if len(w.key) >= 3 and w.conf >= MIN_CONF]
    if not first:
        return []
    h, w = rgb.shape[:2]
    soft = cv2.GaussianBlur(cv2.resize(rgb, (int(w * 0.8), int(h * 0.8)), interpolation=cv2.INTER_AREA), (3, 3), 0.8)
    again = {x.key for x in read(soft) if x.conf >= MIN_CONF - 20}
    seen: set[str] = set()
    out = []
    for word in first:
        if word.key in again and word.key not in seen:
            seen.add(word.key)
            out.append(word)
    return out


@dataclass(frozen=True)
class TextChange:
    before: str
    after: str | None  # the closest word read in the generated image, None when nothing like it is there
    box: tuple[int, int, int, int]  # where the word is on the photo (OCR coordinates)


def compare_words(source: list[Word], generated: list[Word]) -> list[TextChange]:
    """Source words not found in the generated image, each with the closest word read there."""
    keys = [g.key for g in generated if g.key]
    changes = []
    for word in source:
        # Read whole, inside a longer run, or cut short at its ends (a glyph the OCR lost at a crop's edge):
        # the word is there. A letter changed inside the word is not any of these.
        if any(word.key in k or (len(k) >= 0.6 * len(word.key) and k in word.key) for k in keys):
            continue
        close = difflib.get_close_matches(word.key, keys, n=1, cutoff=0.5)
        after = next((g.text for g in generated if close and g.key == close[0]), None)
        changes.append(TextChange(before=word.text, after=after, box=word.box))
    return changes
