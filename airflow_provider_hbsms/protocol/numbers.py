"""One form for every phone number the provider stores or compares.

The gateway, the users' input files and the people replying write the same mainland number as
``13800138000``, ``+86 138-0013-8000``, ``8613800138000`` or ``008613800138000``. Every number
that goes in (report and reply mobiles, opt-outs) or out (sends) passes through
``canonical_mobile`` so that opt-outs, delivery matching and reply attribution compare like
with like.
"""

from __future__ import annotations

import re

#: A mainland mobile number in its canonical form: 11 ASCII digits starting 13-19.
MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
#: Separators people and spreadsheets put inside numbers.
_NOISE = re.compile(r"[\s\-().\u00a0\u3000]")
_COUNTRY_PREFIXES = ("+86", "0086")


def canonical_mobile(value: str) -> str:
    """The canonical form of a phone number.

    A mainland mobile with any of the ``+86``, ``0086`` and ``86`` prefixes, spaces, dashes,
    dots or parentheses becomes its 11 digits; any other number is returned with the
    separators removed (``+852 9123 4567`` becomes ``+85291234567``), so that it still
    compares equal to itself whatever way it was written.

    :param value: the number as written.
    """
    if MAINLAND_MOBILE.fullmatch(value):
        return value  # the common case, without a regex substitution
    digits = _NOISE.sub("", value)
    for prefix in _COUNTRY_PREFIXES:
        if digits.startswith(prefix):
            rest = digits[len(prefix) :]
            if MAINLAND_MOBILE.fullmatch(rest):
                return rest
    if len(digits) == 13 and digits.startswith("86") and MAINLAND_MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    return digits


def is_mainland_mobile(value: str) -> bool:
    """``value`` is a canonical mainland mobile number.

    :param value: a number, canonical or not.
    """
    return MAINLAND_MOBILE.fullmatch(value) is not None
