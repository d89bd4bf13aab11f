"""Kubernetes resource quantities (``100m``, ``64Gi``, ``1e3``) as exact decimals.

The simulator schedules pods and reports node allocations, so it has to read requests and
capacities exactly like ``k8s.io/apimachinery/pkg/api/resource`` does: the same accepted
syntax, the same rounding (up to 1n), the same errors, and the same canonical output.
"""

from __future__ import annotations

from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_UP,
    Context,
    Decimal,
    DecimalException,
    localcontext,
)

__all__ = ["bytes_of", "cpu_millis", "format_bytes_binary", "parse_quantity"]

_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_ERR_FORMAT = f"quantities must match the regular expression '{_REGEX}'"
_ERR_SUFFIX = "unable to parse quantity's suffix"
_ERR_NUMERIC = "unable to parse numeric part of quantity"

# suffix -> (base, exponent); "e<n>"/"E<n>" exponents are handled separately.
_SUFFIXES: dict[str, tuple[int, int]] = {
    "n": (10, -9),
    "u": (10, -6),
    "m": (10, -3),
    "": (10, 0),
    "k": (10, 3),
    "M": (10, 6),
    "G": (10, 9),
    "T": (10, 12),
    "P": (10, 15),
    "E": (10, 18),
    "Ki": (2, 10),
    "Mi": (2, 20),
    "Gi": (2, 30),
    "Ti": (2, 40),
    "Pi": (2, 50),
    "Ei": (2, 60),
}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_BINARY_NAMES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_NANO = Decimal("1e-9")
_MAX_BINARY = Decimal(2**63 - 1)
_CONTEXT = Context(prec=80, Emax=MAX_EMAX, Emin=MIN_EMIN)

Number = str | int | float | Decimal


def _split(text: str) -> tuple[bool, str, str, str]:
    """Split into (negative, integer digits, fraction digits, suffix) like parseQuantityString.

    Deliberately as lenient as upstream: "1.", ".5", "+" and "." are all accepted.
    """
    pos, end = 0, len(text)
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        pos = 1
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos]
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos != end:
        raise ValueError(_ERR_FORMAT)
    return negative, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int]:
    known = _SUFFIXES.get(suffix)
    if known is not None:
        return known
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = suffix[1:]
        digits = exponent[1:] if exponent[0] in "+-" else exponent
        if digits and all(c in _DIGITS for c in digits) and len(digits) < 19:
            return 10, int(exponent)
    raise ValueError(_ERR_SUFFIX)


def parse_quantity(text: Number) -> Decimal:
    """Parse a quantity (string, or a bare JSON number) into its exact value.

    Values are rounded away from zero to a multiple of 1n, and binary-suffixed values are capped
    at 2^63-1, as upstream. Raises ValueError with the apiserver's messages.
    """
    if isinstance(text, Decimal):
        return text
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(_ERR_FORMAT)
    text = str(text)
    if not text:
        raise ValueError(_ERR_FORMAT)
    negative, num, denom, suffix = _split(text)
    base, exponent = _interpret(suffix)
    try:
        with localcontext(_CONTEXT):
            value = Decimal(f"{num or '0'}.{denom or '0'}")
            value = value.scaleb(exponent) if base == 10 else value * (2**exponent)
            if value.as_tuple().exponent < -9:  # type: ignore[operator]
                value = value.quantize(_NANO, rounding=ROUND_UP)
            if base == 2 and value > _MAX_BINARY:
                value = _MAX_BINARY
            if value != value.to_integral_value():
                value = value.normalize()  # 100m -> Decimal("0.1"), not "0.1000"
            elif value.adjusted() < 60:
                value = value.quantize(Decimal(1))  # 1k -> Decimal("1000"), not "1E+3"
            return -value if negative and value else value
    except DecimalException:
        raise ValueError(_ERR_NUMERIC) from None


def _scaled(q: Number, factor: int) -> int:
    with localcontext(_CONTEXT):
        return int((parse_quantity(q) * factor).to_integral_value(rounding=ROUND_UP))


def cpu_millis(q: Number) -> int:
    """CPU in millicores, rounded away from zero like Quantity.MilliValue()."""
    return _scaled(q, 1000)


def bytes_of(q: Number) -> int:
    """The integral value (e.g. bytes), rounded away from zero like Quantity.Value()."""
    return _scaled(q, 1)


def format_bytes_binary(n: int) -> str:
    """Canonical string of a BinarySI quantity (memory): ``64Gi``, ``1536Mi``, ``1500``.

    Values strictly between -1024 and 1024 are printed as DecimalSI, as upstream does
    (so 1000 renders as ``1k``).
    """
    if -1024 < n < 1024:
        return f"{n // 1000}k" if n and n % 1000 == 0 else str(n)
    magnitude, power = abs(n), 0
    while magnitude >= 1024 and magnitude % 1024 == 0 and power < len(_BINARY_NAMES) - 1:
        magnitude //= 1024
        power += 1
    return f"{'-' if n < 0 else ''}{magnitude}{_BINARY_NAMES[power]}"
