"""The budget's wire formats: grpc-timeout (written rounded up, read strictly)
and Envoy's millisecond header."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import unicancel
from unicancel.services.budget import (
    decode_envoy_timeout,
    decode_timeout,
    encode_timeout,
    outgoing_timeout,
    read_budget,
    remaining_budget,
)

_UNIT = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
         "S": Fraction(1), "M": Fraction(60), "H": Fraction(3600)}  # fmt: skip
_MAX = 99_999_999 * 3600

budgets = st.floats(min_value=1e-12, max_value=_MAX, allow_nan=False, allow_infinity=False)


@given(budgets)
def test_encoding_rounds_up_by_less_than_one_unit(seconds: float) -> None:
    value = encode_timeout(seconds)
    digits, unit = value[:-1], value[-1]
    assert 1 <= len(digits) <= 8 and digits.isdigit()
    encoded = int(digits) * _UNIT[unit]
    assert encoded >= Fraction(seconds)  # never less than the budget
    assert encoded - Fraction(seconds) < _UNIT[unit]


@given(budgets)
def test_encoding_uses_the_finest_unit_that_fits(seconds: float) -> None:
    value = encode_timeout(seconds)
    finer = list("numSMH")
    index = finer.index(value[-1])
    if index:
        size = _UNIT[finer[index - 1]]
        assert math.ceil(Fraction(seconds) / size) > 99_999_999


@given(budgets)
def test_round_trip_is_within_one_unit_above(seconds: float) -> None:
    value = encode_timeout(seconds)
    decoded = decode_timeout(value)
    assert decoded >= seconds * (1 - 1e-15)
    assert decoded - seconds <= float(_UNIT[value[-1]]) * (1 + 1e-9)


@given(st.integers(0, 99_999_999), st.sampled_from(sorted(_UNIT)))
def test_every_well_formed_value_decodes(count: int, unit: str) -> None:
    assert decode_timeout(f"{count}{unit}") == float(count * _UNIT[unit])


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (1.0, "1000000u"),  # 1000000000n has 10 digits
        (0.25, "250000u"),
        (0.0999, "99900001n"),  # the float 0.0999 is a little above 0.0999
        (1.5, "1500000u"),
        (100.0, "100000m"),
        (1e-10, "1n"),  # rounded up, never to zero
        (1 / 3, "333334u"),
        (1e12, "99999999H"),  # 277777778H does not fit: the largest budget
    ],
)
def test_encoding_examples(seconds: float, expected: str) -> None:
    assert encode_timeout(seconds) == expected


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, math.nan, math.inf])
def test_only_a_positive_finite_budget_is_encoded(bad: float) -> None:
    with pytest.raises(ValueError, match=r"^unicancel: "):
        encode_timeout(bad)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "a malformed value ''"),
        ("abc", "a malformed value 'abc'"),
        ("1.5S", "a malformed value '1.5S'"),
        ("-1S", "a negative value '-1S'"),
        (" 1S", "a malformed value"),
        ("123456789S", "9 digits, more than the 8 allowed"),
        ("10x", "'10x' has 'x'"),
        ("10s", "'10s' has 's'"),
        ("10", "'10' has no unit"),
        (b"\xff1S", "is not ASCII"),
    ],
)
def test_decoding_is_strict(value: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=r"^unicancel: grpc-timeout: ") as info:
        decode_timeout(value)
    assert message in str(info.value)
    assert "expected 1 to 8 digits" in str(info.value) or "ASCII" in message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "a negative value"),
        ("1.5", "a malformed value"),
        ("", "a malformed value"),
        ("1" * 13, "13 digits"),
    ],
)
def test_envoy_decoding_is_strict(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^unicancel: x-envoy-expected-rq-timeout-ms: ") as info:
        decode_envoy_timeout(value)
    assert message in str(info.value)


def test_envoy_milliseconds() -> None:
    assert decode_envoy_timeout("1500") == 1.5
    assert decode_envoy_timeout(b"0") == 0.0


def test_read_budget_takes_the_smaller_header_and_configured_names() -> None:
    asgi = [(b"Grpc-Timeout", b"2S"), (b"x-envoy-expected-rq-timeout-ms", b"1500"), (b"a", b"b")]
    assert read_budget(asgi) == 1.5
    assert read_budget(asgi, envoy_header=None) == 2.0
    assert read_budget({"x-budget": "3S"}, header="X-Budget") == 3.0
    assert read_budget({"other": "1"}) is None
    with pytest.raises(ValueError, match="sent twice with different values"):
        read_budget([(b"grpc-timeout", b"1S"), (b"grpc-timeout", b"2S")])
    assert read_budget([(b"grpc-timeout", b"1S"), (b"grpc-timeout", b"1S")]) == 1.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_remaining_and_outgoing_budget(backend: str) -> None:
    async def main() -> None:
        assert remaining_budget() == math.inf
        assert outgoing_timeout() is None
        with unicancel.move_on_after(10):
            assert 9 < remaining_budget(0.5) <= 9.5
            value = outgoing_timeout(0.5)
            assert value is not None
            assert 9 < decode_timeout(value) <= 9.5 + 1e-6
            with pytest.raises(TimeoutError, match=r"no budget .* the request was not sent"):
                outgoing_timeout(11)
        with pytest.raises(ValueError, match="margin must be"):
            remaining_budget(-1)

    unicancel.run(main, backend=backend)
