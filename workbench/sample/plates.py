"""Licence plates for the synthetic fleet: state formats, look-alike characters and OCR misreads.

Plates are drawn in the real passenger-plate format of their state (``NY``
``ABC1234``, ``NJ`` ``A12BCD``, ``CA`` ``1ABC234`` ...). Letter positions avoid
I, O and Q, as most states do, so a plate holding an ``O`` is always a misread.

An OCR misread swaps one character for a look-alike (:data:`LOOKALIKES`):
0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B/3, 6/G, 4/A, 7/T, U/V. The table is symmetric,
so the look-alike search of the trajectory engine can undo any planted misread.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError

#: Passenger-plate patterns: ``L`` a letter (no I, O, Q), ``D`` a digit. ``raw``
#: is where the plate shows a space (the ``plate_raw`` column keeps it).
STATE_FORMATS = {
    "OH": ("LLLDDDD", 3),
    "NY": ("LLLDDDD", 3),
    "PA": ("LLLDDDD", 3),
    "MI": ("LLLDDDD", 3),
    "TX": ("LLLDDDD", 3),
    "VA": ("LLLDDDD", 3),
    "GA": ("LLLDDDD", 3),
    "NJ": ("LDDLLL", 3),
    "CA": ("DLLLDDD", 4),
    "MA": ("DLLLDD", 4),
    "IN": ("DDDLLL", 3),
    "KY": ("DDDLLL", 3),
    "WV": ("DLLDDD", 3),
    "IL": ("LLDDDDD", 2),
    "FL": ("LLLLDD", 3),
    "MD": ("DLLDDDD", 3),
    "CT": ("LLDDDDD", 2),
}

#: Neighbouring states whose plates show up most, by home state.
NEIGHBOURS = {
    "OH": ("MI", "IN", "PA", "KY", "WV"),
    "NY": ("NJ", "CT", "PA", "MA"),
    "NJ": ("NY", "PA"),
    "PA": ("NJ", "NY", "OH", "MD"),
    "CA": ("TX", "FL"),
}

#: Groups of characters an ALPR camera confuses; a misread swaps within a group.
LOOKALIKE_GROUPS = ("0ODQ", "1IL", "2Z", "5S", "8B3", "6G", "4A", "7T", "UV")


def _lookalike_table():
    table = {}
    for group in LOOKALIKE_GROUPS:
        for ch in group:
            table.setdefault(ch, [])
            table[ch] += [o for o in group if o != ch and o not in table[ch]]
    return {k: "".join(v) for k, v in table.items()}


#: Character -> the characters it may be misread as.
LOOKALIKES = _lookalike_table()

_LETTERS = np.frombuffer(b"ABCDEFGHJKLMNPRSTUVWXYZ", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)

# Byte-indexed look-up tables for vectorised substitution.
_N_ALT = np.zeros(256, dtype=np.int64)
_ALT = np.zeros((256, 3), dtype=np.uint8)
for _ch, _alts in LOOKALIKES.items():
    _N_ALT[ord(_ch)] = len(_alts)
    _ALT[ord(_ch), : len(_alts)] = np.frombuffer(_alts.encode(), dtype=np.uint8)


def state_mix(home_state: str, home_share: float = 0.88) -> tuple[list[str], np.ndarray]:
    """States of the fleet and their shares: mostly ``home_state``, then its neighbours.

    Parameters
    ----------
    home_state : str
        Two-letter state of the city (must be in :data:`STATE_FORMATS`).
    home_share : float
        Share of plates from the home state.

    Returns
    -------
    states : list of str
    shares : numpy.ndarray
        Summing to 1.

    Examples
    --------
    >>> states, shares = state_mix("OH")
    >>> states[0], round(float(shares[0]), 2)
    ('OH', 0.88)
    """
    if home_state not in STATE_FORMATS:
        raise WorkbenchError(
            f"home_state {home_state!r} has no plate format; known: {', '.join(sorted(STATE_FORMATS))}"
        )
    near = [s for s in NEIGHBOURS.get(home_state, ("PA", "NY", "NJ")) if s != home_state]
    far = [s for s in STATE_FORMATS if s != home_state and s not in near]
    shares = [home_share]
    shares += [(1 - home_share) * 0.8 / len(near)] * len(near)
    shares += [(1 - home_share) * 0.2 / len(far)] * len(far)
    return [home_state, *near, *far], np.asarray(shares) / np.sum(shares)


def random_plates(states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One distinct random plate per entry of ``states``, in that state's format.

    Parameters
    ----------
    states : numpy.ndarray of str
        Two-letter states (keys of :data:`STATE_FORMATS`).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of str (object)
        Upper-case plates without spaces, all distinct.

    Examples
    --------
    >>> plates = random_plates(np.array(["NJ", "CA"]), np.random.default_rng(0))
    >>> [len(p) for p in plates]
    [6, 7]
    """
    states = np.asarray(states, dtype=object)
    plates = np.empty(len(states), dtype=object)
    todo = np.arange(len(states))
    for _ in range(20):  # redraw collisions; a handful of rounds at most
        for state in np.unique(states[todo]):
            idx = todo[states[todo] == state]
            pattern = STATE_FORMATS[state][0]
            chars = np.empty((len(idx), len(pattern)), dtype=np.uint8)
            for j, kind in enumerate(pattern):
                pool = _LETTERS if kind == "L" else _DIGITS
                chars[:, j] = pool[rng.integers(0, len(pool), len(idx))]
            plates[idx] = chars.view(f"S{len(pattern)}").ravel().astype(str).astype(object)
        _, first = np.unique(plates.astype(str), return_index=True)
        dup = np.ones(len(plates), dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
        if len(todo) == 0:
            return plates
    raise WorkbenchError("could not draw distinct plates; the fleet is too large for the formats")


def raw_plates(plates: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Plates as printed (with the state's space), for the ``plate_raw`` column.

    Examples
    --------
    >>> raw_plates(np.array(["ABC1234"], dtype=object), np.array(["OH"], dtype=object))[0]
    'ABC 1234'
    """
    plates = np.asarray(plates, dtype=object)
    states = np.asarray(states, dtype=object)
    out = plates.copy()
    for state in np.unique(states):
        split = STATE_FORMATS.get(state, ("", 3))[1]
        idx = np.flatnonzero(states == state)
        text = plates[idx].astype(str)
        spaced = np.strings.add(np.strings.add(np.strings.slice(text, 0, split), " "),
                                np.strings.slice(text, split, None))
        out[idx] = spaced.astype(object)
    return out


def has_lookalike(plates: np.ndarray) -> np.ndarray:
    """True where a plate holds at least one character that can be misread."""
    chars = np.asarray(plates, dtype=object).astype("S")  # fixed width, padded with NUL (no look-alike)
    return _N_ALT[chars.view(np.uint8).reshape(len(chars), chars.dtype.itemsize)].any(axis=1)


def misread(plates: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Misread each plate by swapping one character for a look-alike.

    Parameters
    ----------
    plates : numpy.ndarray of str
        True plates; each must hold a character with a look-alike (see :func:`has_lookalike`).
    rng : numpy.random.Generator

    Returns
    -------
    read : numpy.ndarray of str (object)
        The misread plates.
    position : numpy.ndarray of int
        Index of the swapped character.

    Examples
    --------
    >>> read, pos = misread(np.array(["ABC1234"], dtype=object), np.random.default_rng(1))
    >>> read[0] != "ABC1234" and len(read[0]) == 7
    True
    """
    plates = np.asarray(plates, dtype=object)
    read = plates.copy()
    position = np.zeros(len(plates), dtype=np.int64)
    lengths = np.fromiter((len(p) for p in plates), dtype=np.int64, count=len(plates))
    for n in np.unique(lengths):
        idx = np.flatnonzero(lengths == n)
        chars = plates[idx].astype(f"S{n}").view(np.uint8).reshape(len(idx), n).copy()
        n_alt = _N_ALT[chars]
        if (n_alt.sum(axis=1) == 0).any():
            raise WorkbenchError("a plate without look-alike characters cannot be misread")
        # a random eligible position per plate: the largest random key among eligible ones
        keys = np.where(n_alt > 0, rng.random(chars.shape), -1.0)
        pos = keys.argmax(axis=1)
        rows = np.arange(len(idx))
        old = chars[rows, pos]
        choice = (rng.random(len(idx)) * _N_ALT[old]).astype(np.int64)
        chars[rows, pos] = _ALT[old, choice]
        read[idx] = chars.view(f"S{n}").ravel().astype(str).astype(object)
        position[idx] = pos
    return read, position


def is_lookalike_substitution(true_plate: str, read_plate: str) -> bool:
    """True if ``read_plate`` is ``true_plate`` with one character swapped for a look-alike.

    Examples
    --------
    >>> is_lookalike_substitution("ABC1234", "ABC1Z34"), is_lookalike_substitution("ABC1234", "ABC1X34")
    (True, False)
    """
    if len(true_plate) != len(read_plate):
        return False
    diff = [(a, b) for a, b in zip(true_plate, read_plate) if a != b]
    return len(diff) == 1 and diff[0][1] in LOOKALIKES.get(diff[0][0], "")
