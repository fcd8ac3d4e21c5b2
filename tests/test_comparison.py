"""ULPs and element comparison rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conformance.engine.comparison import compare
from conformance.engine.dtypes import float_format

F32, F64 = float_format("float32"), float_format("float64")


@pytest.mark.parametrize(
    ("fmt", "value", "ulp"),
    [
        (F32, 1.0, 2.0**-23),
        (F32, 1.5, 2.0**-23),
        (F32, 0.75, 2.0**-24),
        (F32, 0.0, 2.0**-149),
        (F32, 1e-40, 2.0**-149),  # subnormal: the fixed subnormal spacing
        (F64, 1.0, 2.0**-52),
        (F64, 0.0, 2.0**-1074),
        (float_format("float16"), 1.0, 2.0**-10),
        (float_format("bfloat16"), 1.0, 2.0**-7),
    ],
)
def test_ulp(fmt, value, ulp):
    assert fmt.ulp(np.array([value]))[0] == ulp


def _cmp(got, hi, lo=0.0, tol=8.0, fmt=F64):
    return compare(np.array([got]), np.array([hi]), np.array([lo]), np.array(tol), fmt)


def test_error_is_measured_in_ulps_of_the_reference():
    c = _cmp(1.0 + 3 * 2.0**-52, 1.0)
    assert c.error_ulps[0] == 3.0
    assert c.ok


def test_low_word_of_the_reference_counts():
    # reference 1 + 0.5 ulp (hi = 1, lo = 2**-53): got 1 is half an ULP away
    assert _cmp(1.0, 1.0, 2.0**-53).error_ulps[0] == 0.5


def test_outside_tolerance_fails():
    assert not _cmp(1.0 + 9 * 2.0**-52, 1.0).ok


@pytest.mark.parametrize(
    ("got", "hi", "ok"),
    [
        (math.nan, math.nan, True),
        (1.0, math.nan, False),
        (math.inf, math.inf, True),
        (-math.inf, math.inf, False),
        (math.nan, 1.0, False),
        (math.inf, 1.0, False),
        (math.inf, 1e300, True),  # 1e300 overflows float32: inf is its correct rounding
    ],
)
def test_special_values(got, hi, ok):
    assert _cmp(got, hi, fmt=F32).ok is ok


def test_max_error_is_inf_when_a_special_value_mismatches():
    assert _cmp(math.nan, 1.0).max_error_ulps == math.inf


def test_scale_sets_the_ulp_basis():
    # a gradient formed as sigmoid(20) - 1: exact -2.06e-9, float32 can only give 0 or so
    got = np.array([0.0])
    hi, lo = np.array([-2.06e-9]), np.array([0.0])
    assert not compare(got, hi, lo, 8.0, F32).ok
    scaled = compare(got, hi, lo, 8.0, F32, scale=np.array([2.0]))
    assert scaled.ok and scaled.error_ulps[0] < 0.01
