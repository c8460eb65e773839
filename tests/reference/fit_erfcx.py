#!/usr/bin/env python3
"""Fits the Chebyshev series of e^(t^2) erfc(t) that ops/math_kernels.cpp evaluates for gelu.

erfc has no vector form in libm, so gelu's kernels compute the normal CDF from this series and the
library's own exp. The scaled function erfcx(t) = e^(t^2) erfc(t) is smooth and falls from 1 to
about 1 / (t sqrt(pi)); in u = 4 / (4 + t) it is smoother still, so t in [0, 12] (beyond which
gelu's results underflow float) maps onto u in [1/4, 1], and u onto v in [-1, 1]. A least-squares
fit of degree 20 at Chebyshev nodes to libm's erfc, in double, is within 2e-14 relative of it
(this script prints the largest error over 120,000 points); the kernel's float results need 1e-9.

Run with numpy: /usr/bin/python3 tests/reference/fit_erfcx.py, and paste the coefficients into
kErfcxSeries in ops/math_kernels.cpp.
"""
import math

import numpy as np

T_MAX, K, DEGREE, NODES = 12.0, 4.0, 20, 6000
U_LOW = K / (K + T_MAX)


def erfcx(t):
    return math.exp(t * t) * math.erfc(t)


def v_of(t):
    return (2 * K / (K + t) - (1 + U_LOW)) / (1 - U_LOW)


def main():
    v = np.cos(np.pi * (np.arange(NODES) + 0.5) / NODES)
    t = K / ((v * (1 - U_LOW) + (1 + U_LOW)) / 2) - K
    coefficients = np.polynomial.chebyshev.chebfit(v, [erfcx(x) for x in t], DEGREE)
    checks = np.concatenate([np.linspace(0, T_MAX, 100001), np.geomspace(1e-10, T_MAX, 20001)])
    error = max(abs(np.polynomial.chebyshev.chebval(v_of(x), coefficients) / erfcx(x) - 1)
                for x in checks)
    for c in coefficients:
        print(f"    {float(c)!r},")
    print(f"// largest relative error {error:.2e}")


if __name__ == "__main__":
    main()
