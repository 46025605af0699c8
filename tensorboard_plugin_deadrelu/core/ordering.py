"""The one order of names: layers in a run, and runs in a logdir.

Python and the tab's JavaScript (``frontend/ordering.js``) implement the same
rule and are checked against the same golden vectors
(``tests/golden/ordering_vectors.json``):

1. A name is read left to right as number tokens and text tokens (text: the
   longest runs of characters that are not ASCII digits).
2. A number is ASCII digits, then a decimal fraction (``.`` and digits) unless
   the number follows a ``.`` or the fraction is followed by another ``.``
   (dotted paths such as ``blocks.1.10``, torchvision's ``layer1.10.conv1`` or
   ``v1.2.3`` stay integers), then an
   exponent (``e``/``E``, an optional sign, digits) unless a letter or digit
   follows it (``lr1e-3_bs64`` but ``conv1e``).
3. Numbers compare by exact value (``lr0.001 < lr0.01 < lr1e-1``; ``01 == 1``),
   text case-insensitively for A-Z only, by code points; a number comes before
   a text at the same position, and a name that is a prefix of another first.
4. Names still equal compare by code points, so the order is total.
"""

import re
import string

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# Explicit ASCII classes: str.isdigit() and re's \d also accept digits such as "²" or "٣".
_NUMBER = re.compile(r"([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?\Z")
# Python refuses int() of strings longer than sys.get_int_max_str_digits() (4300 by default).
_CHUNK = 1000


def _is_digit(char):
    return "0" <= char <= "9"


def _is_letter_or_digit(char):
    return "0" <= char <= "9" or "a" <= char <= "z" or "A" <= char <= "Z"


def _digits_end(name, i):
    """Index of the first character at or after ``i`` that is not an ASCII digit."""
    while i < len(name) and _is_digit(name[i]):
        i += 1
    return i


def tokenize(name):
    """The tokens of ``name`` in order, as ``(is_number, source_text)`` pairs."""
    tokens = []
    i, n = 0, len(name)
    while i < n:
        start = i
        if not _is_digit(name[i]):
            while i < n and not _is_digit(name[i]):
                i += 1
            tokens.append((False, name[start:i]))
            continue
        i = _digits_end(name, i)
        if i + 1 < n and name[i] == "." and _is_digit(name[i + 1]) and not (start > 0 and name[start - 1] == "."):
            end = _digits_end(name, i + 1)
            if not (end < n and name[end] == "."):
                i = end
        if i < n and name[i] in "eE":
            digits = i + 2 if i + 1 < n and name[i + 1] in "+-" else i + 1
            end = _digits_end(name, digits)
            if end > digits and not (end < n and _is_letter_or_digit(name[end])):
                i = end
        tokens.append((True, name[start:i]))
    return tokens


def _exact_int(text):
    """``int(text)`` for a signed decimal of any length."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    value = 0
    for at in range(0, len(digits), _CHUNK):
        chunk = digits[at : at + _CHUNK]
        value = value * 10 ** len(chunk) + int(chunk)
    return sign * value


def _number_key(text):
    """The exact value of a number token as ``(0, 0, "")`` for zero or
    ``(1, E, D)`` for 0.D × 10^E (D without leading or trailing zeros)."""
    integer, fraction, exponent = _NUMBER.match(text).groups()
    digits = integer + (fraction or "")
    significant = digits.lstrip("0")
    if not significant:
        return (0, 0, "")
    leading_zeros = len(digits) - len(significant)
    scale = len(integer) + (_exact_int(exponent) if exponent else 0) - leading_zeros
    return (1, scale, significant.rstrip("0"))


def _token_key(token):
    is_number, text = token
    if is_number:
        return (0,) + _number_key(text)
    return (1, text.translate(_ASCII_LOWER))


def natural_key(name):
    """Sorts names as people read them: ``dense_2`` before ``dense_10``,
    ``conv`` before ``Dense_1``, ``lr0.001`` before ``lr0.01`` (the module
    docstring has the whole rule)."""
    return (tuple(_token_key(token) for token in tokenize(name)), name)


def model_order_key(order, tag):
    """The one order of layers everywhere (API, tab, report): by their position in
    the model (``order``; layers without one last), then naturally by tag."""
    return (order is None, order if order is not None else 0, natural_key(tag))
