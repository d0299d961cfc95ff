"""Licence plates: normalisation, look-alike characters, states and search patterns.

An ALPR camera's OCR confuses characters that look alike (``0``/``O``/``D``/``Q``,
``8``/``B``/``3`` ...). Every character maps to the representative of its
look-alike class (:data:`LOOKALIKE_CLASSES`), so two plates that differ only by
look-alike substitutions have the same *canonical form*. Searches compare
canonical forms over the distinct plates of a table (far fewer than reads) and
count the substituted positions to rank exact matches above look-alike ones.

Patterns use ``?`` for one unknown character and ``*`` for any run of
characters (``"AB?12*"``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from workbench.errors import TrajectoryError

#: Characters an ALPR camera confuses: each group is one look-alike class.
LOOKALIKE_CLASSES = ("0ODQ", "1IL", "2Z", "5S", "8B3", "6G", "4A", "7T", "UV", "EF")

#: Character -> representative of its look-alike class (the class's first character).
CANONICAL = {ch: group[0] for group in LOOKALIKE_CLASSES for ch in group}

_TRANSLATE = str.maketrans(CANONICAL)
_BYTE_CANON = np.arange(256, dtype=np.uint8)
for _ch, _rep in CANONICAL.items():
    _BYTE_CANON[ord(_ch)] = ord(_rep)

_NOT_PLATE = re.compile(r"[^0-9A-Z]")
_PATTERN_OK = re.compile(r"^[0-9A-Z?*]+$")

#: US states, DC and territories: name -> USPS code.
STATES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN",
    "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR",
    "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA",
    "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR", "GUAM": "GU", "US VIRGIN ISLANDS": "VI",
}
_CODES = set(STATES.values())


def normalize_plate(plate):
    """Plate text as the canonical tables hold it: upper case, letters and digits only.

    Parameters
    ----------
    plate : str, array-like or pandas.Series
        Spaces, dashes, dots and other separators are removed.

    Returns
    -------
    str or pandas.Series
        Missing values stay missing; a plate with no letter or digit becomes missing.

    Examples
    --------
    >>> normalize_plate(" abc-1234 ")
    'ABC1234'
    """
    if isinstance(plate, str):
        out = _NOT_PLATE.sub("", plate.upper())
        return out or None
    if plate is None or (np.isscalar(plate) and pd.isna(plate)):
        return None
    series = pd.Series(plate) if not isinstance(plate, pd.Series) else plate
    out = series.astype("str").str.upper().str.replace(_NOT_PLATE.pattern, "", regex=True)
    return out.mask(out.str.len() == 0)


def canonical_plate(plate):
    """The look-alike canonical form: every character replaced by its class representative.

    Examples
    --------
    >>> canonical_plate("B0S5") == canonical_plate("80SS")
    True
    """
    if isinstance(plate, str):
        return normalize_plate(plate).translate(_TRANSLATE)
    return normalize_plate(plate).str.translate(_TRANSLATE)


def normalize_state(state):
    """A US state or territory as its two-letter USPS code.

    Parameters
    ----------
    state : str or None
        A code (``"oh"``) or a name (``"Ohio"``). None stays None.

    Returns
    -------
    str or None

    Raises
    ------
    TrajectoryError
        For a value that is neither a known code nor a known name.

    Examples
    --------
    >>> normalize_state("Ohio")
    'OH'
    """
    if state is None or (not isinstance(state, str) and pd.isna(state)):
        return None
    text = re.sub(r"\s+", " ", str(state).strip().upper().replace(".", ""))
    if text in _CODES:
        return text
    if text in STATES:
        return STATES[text]
    raise TrajectoryError(f"unknown state {state!r}: give a two-letter code (OH) or a state name (Ohio)")


def check_pattern(pattern: str, *, min_known: int = 2) -> str:
    """Normalise and check a partial-plate pattern (``?`` one character, ``*`` any run).

    Parameters
    ----------
    pattern : str
    min_known : int
        Fewest known characters: a pattern of wildcards alone would match every plate.

    Returns
    -------
    str
        Upper case, separators removed, runs of ``*`` collapsed.

    Raises
    ------
    TrajectoryError
        For an empty pattern, characters other than letters, digits, ``?`` and ``*``,
        or fewer than ``min_known`` known characters.

    Examples
    --------
    >>> check_pattern("ab?-12**")
    'AB?12*'
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise TrajectoryError(f"pattern must be a non-empty string, got {pattern!r}")
    text = re.sub(r"[\s\-.]", "", pattern.upper())
    if not _PATTERN_OK.match(text or "-"):
        bad = sorted(set(re.sub(r"[0-9A-Z?*]", "", text)))
        raise TrajectoryError(
            f"malformed plate pattern {pattern!r}: unexpected character(s) {''.join(bad)!r}; "
            "use letters, digits, '?' for one unknown character and '*' for any run"
        )
    text = re.sub(r"\*+", "*", text)
    known = sum(ch not in "?*" for ch in text)
    if known < min_known:
        raise TrajectoryError(
            f"plate pattern {pattern!r} has {known} known character(s); at least {min_known} are "
            "needed so a search cannot return every plate"
        )
    return text


def pattern_regex(pattern: str, *, lookalike: bool) -> str:
    """An anchored regular expression for a checked pattern.

    With ``lookalike=True`` known characters are replaced by their class
    representative, so the regex is meant for canonical plates.

    Examples
    --------
    >>> pattern_regex("AB?1*", lookalike=True)
    '^48.1.*$'
    """
    parts = []
    for ch in pattern:
        if ch == "?":
            parts.append(".")
        elif ch == "*":
            parts.append(".*")
        else:
            rep = CANONICAL.get(ch, ch) if lookalike else ch
            parts.append(re.escape(rep))
    return "^" + "".join(parts) + "$"


def plate_matrix(plates, width: int | None = None) -> np.ndarray:
    """Plates as a (n, width) uint8 matrix, zero-padded (for vectorised position compares)."""
    values = np.asarray(plates, dtype=object).astype(str) if len(plates) else np.array([], dtype=str)
    if width is None:
        width = max((len(p) for p in values), default=1)
    fixed = values.astype(f"S{max(width, 1)}")
    return fixed.view(np.uint8).reshape(len(values), max(width, 1))


def canonical_matrix(matrix: np.ndarray) -> np.ndarray:
    """Map every byte of a plate matrix to its look-alike class representative."""
    return _BYTE_CANON[matrix]
