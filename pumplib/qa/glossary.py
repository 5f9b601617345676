"""The pump domain's short forms: abbreviations read as the words they stand for, or known as
words of the domain (never typos of another word).

A short form of a word pumplib reads (:data:`SHORT_FORMS`, and two words joined by the
digit two) is read as that word, and the answer's first line says so. An abbreviation of
the domain that names something else (:data:`KNOWN`: a drive, a unit, a control system)
is a word pumplib knows, never read as a typo of another word; what it stands for is
read where its concept is (the registry's pump type for a drive, :mod:`pumplib.qa.facts`)
or refused where pumplib holds nothing on it (:mod:`pumplib.qa.refuse`).
(Examples are kept out of this docstring on purpose: modules are indexed, and a word
quoted here would count as a subject pumplib knows.)
"""

from __future__ import annotations

import re

#: short forms read as the words they stand for: ``word: expansion`` or ``word: (expansion,
#: pattern the text after the word must match)`` ("spec" is specific only before "energy")
SHORT_FORMS: dict[str, str | tuple[str, str]] = {
    "eff": "efficiency", "effs": "efficiencies",   # ("effcy": a typo, asked back)
    "w2w": "wire-to-water", "wtow": "wire-to-water",
    "hyd": ("hydraulic", r"\.?\s+power"), "hydr": ("hydraulic", r"\.?\s+power"),
    "spec": ("specific", r"\.?\s+(?:energy|energies)\b"),
    "sp": ("specific", r"\.?\s+(?:energy|energies)\b"),
    "norm": ("normalised", r"\.?\s+(?:specific|spec)\b"),
    "nrg": "energy", "elec": "electricity", "pwr": "power",
    "kwhr": "kwh", "kwhrs": "kwh",
    "tdh": "pumping head",
    "disch": "discharge", "suct": "suction",
}
#: abbreviations of the domain known as words: what they stand for
KNOWN: dict[str, str] = {
    "vsd": "variable speed drive", "vsds": "variable speed drives",
    "vfd": "variable frequency drive", "vfds": "variable frequency drives",
    "dol": "direct on line (fixed speed)", "bep": "best efficiency point",
    "npsh": "net positive suction head", "npsha": "NPSH available", "npshr": "NPSH required",
    "rpm": "revolutions per minute", "kw": "kilowatt", "kva": "kilovolt-ampere",
    "kvar": "kilovolt-ampere reactive", "hz": "hertz", "hp": "horsepower",
    "pf": "power factor", "amps": "amperes", "gpm": "gallons per minute",
    "mgd": "million gallons per day", "lps": "litres per second", "scada": "SCADA",
    "plc": "programmable logic controller", "mcc": "motor control centre",
    "kwh": "kilowatt-hour", "mwh": "megawatt-hour",
}
#: two words joined by a "2" ("wire2water"): the first word "to" the second
_JOINED = re.compile(r"([a-z]{3,})2([a-z]{3,})")


def short_form(word: str, after: str, known) -> str | None:
    """What ``word`` stands for, read in place of it; None when it is no short form.

    Parameters
    ----------
    word : str
        A word of the question (letters, hyphens, a "2" between two words).
    after : str
        The text that follows it (a short form may need its next word: "spec energy").
    known : container of str
        Words pumplib knows (both halves of a joined word must be known).

    Examples
    --------
    >>> short_form("eff", "", set()), short_form("spec", " energy", set())
    ('efficiency', 'specific')
    >>> short_form("spec", " sheet", set()) is None
    True
    >>> short_form("wire2water", "", {"wire", "water"})
    'wire-to-water'
    """
    w = word.lower()
    found = SHORT_FORMS.get(w)
    if isinstance(found, tuple):
        found = found[0] if re.match(found[1], after, re.IGNORECASE) else None
    if found is None and (m := _JOINED.fullmatch(w)) and all(p in known for p in m.groups()):
        found = f"{m.group(1)}-to-{m.group(2)}"
    return found
