"""Resource quantities must parse, round and print like k8s.io/apimachinery/pkg/api/resource."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kvtui.sim.quantity import bytes_of, cpu_millis, format_bytes_binary, parse_quantity

GI = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("2", Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("64Gi", Decimal(64 * GI)),
        ("1k", Decimal(1000)),
        ("1M", Decimal(10**6)),
        ("500Mi", Decimal(500 * 1024**2)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e+3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("0Mi", Decimal(0)),
        ("1Ti", Decimal(1024**4)),
        ("2Ki", Decimal(2048)),
        ("1E", Decimal(10**18)),  # a bare E is the exa suffix, not an exponent
        ("1Pi", Decimal(1024**5)),
        ("1.5Gi", Decimal(GI * 3 // 2)),
        ("-1", Decimal(-1)),
        ("-500m", Decimal("-0.5")),
        ("+2", Decimal(2)),
        ("007", Decimal(7)),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("250u", Decimal("0.00025")),
        ("3n", Decimal("0.000000003")),
        ("1G", Decimal(10**9)),
        ("2T", Decimal(2 * 10**12)),
        ("2P", Decimal(2 * 10**15)),
        ("1Ei", Decimal(2**60)),
        (2, Decimal(2)),
        (1.5, Decimal("1.5")),
        (0.25, Decimal("0.25")),
        (1e-05, Decimal("0.00001")),
    ],
)
def test_parse(text: str | int | float, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


def test_rounds_up_to_nano_away_from_zero() -> None:
    assert parse_quantity("0.1n") == Decimal("1e-9")
    assert parse_quantity("1e-12") == Decimal("1e-9")
    assert parse_quantity("-1e-12") == Decimal("-1e-9")
    assert parse_quantity("1.0000000001") == Decimal("1.000000001")


def test_binary_quantities_are_capped_at_int64() -> None:
    assert parse_quantity("16Ei") == Decimal(2**63 - 1)
    assert parse_quantity("100E") == Decimal(10**20)  # the cap only applies to binary SI


def test_negative_zero_is_zero() -> None:
    assert parse_quantity("-0").is_signed() is False


def test_integral_results_print_without_exponent() -> None:
    assert str(parse_quantity("1k")) == "1000"
    assert str(parse_quantity("100m")) == "0.1"


def test_lenient_like_upstream() -> None:
    # parseQuantityString reads a missing number as 0; so do we.
    assert parse_quantity("+") == 0
    assert parse_quantity(".") == 0
    assert parse_quantity("Gi") == 0


REGEX_MSG = "quantities must match the regular expression"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", REGEX_MSG),
        ("abc", REGEX_MSG),
        (" 1", REGEX_MSG),
        ("1 ", REGEX_MSG),
        ("1Kix", REGEX_MSG),
        ("1.5.5", REGEX_MSG),
        ("1,5", REGEX_MSG),
        ("nan", REGEX_MSG),
        (float("inf"), REGEX_MSG),
        (True, REGEX_MSG),
        (None, REGEX_MSG),
        ("1e", "unable to parse quantity's suffix"),
        ("1K", "unable to parse quantity's suffix"),  # kilo is lower-case k
        ("1iK", "unable to parse quantity's suffix"),
        ("1mi", "unable to parse quantity's suffix"),
        ("1e+", "unable to parse quantity's suffix"),
        ("1k3", "unable to parse quantity's suffix"),
        ("--1", "unable to parse quantity's suffix"),
    ],
)
def test_invalid(text: object, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_quantity(text)  # type: ignore[arg-type]
    assert str(exc.value).startswith(message)


def test_regex_message_is_the_apiserver_one() -> None:
    with pytest.raises(ValueError) as exc:
        parse_quantity("x")
    assert str(exc.value) == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("q", "millis"),
    [("100m", 100), ("1", 1000), ("2.5", 2500), ("1u", 1), ("-1u", -1), (4, 4000), ("0", 0)],
)
def test_cpu_millis(q: str | int, millis: int) -> None:
    assert cpu_millis(q) == millis


@pytest.mark.parametrize(
    ("q", "n"),
    [("64Gi", 64 * GI), ("1.5Ki", 1536), ("1m", 1), ("1k", 1000), ("0.5", 1), (Decimal(3), 3)],
)
def test_bytes_of(q: str | Decimal, n: int) -> None:
    assert bytes_of(q) == n


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (68719476736, "64Gi"),
        (1536 * 1024**2, "1536Mi"),
        (1024, "1Ki"),
        (2**60, "1Ei"),
        (2**70, "1024Ei"),
        (-2048, "-2Ki"),
        (1500, "1500"),
        (1025, "1025"),
        (3 * 1024**3 + 1024, "3145729Ki"),
        (0, "0"),
        (512, "512"),
        (1023, "1023"),
        (1000, "1k"),  # below 1024 the canonical form is decimal SI
        (-1000, "-1k"),
    ],
)
def test_format_bytes_binary(n: int, text: str) -> None:
    assert format_bytes_binary(n) == text


@pytest.mark.parametrize("n", [0, 1, 1023, 1024, 1536 * 1024**2, 7 * 1024**4 + 5, -(2**40)])
def test_format_round_trips(n: int) -> None:
    assert bytes_of(format_bytes_binary(n)) == n
