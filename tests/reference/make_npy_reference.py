#!/usr/bin/python3
"""Writes tests/data/npy/*.npy: small arrays saved by numpy itself, for tests/test_png_npy.cpp.

Run with Debian's numpy (python3-numpy, 1.24):  /usr/bin/python3 tests/reference/make_npy_reference.py

The C++ test checks that minimax's save_npy writes the float32 files byte for byte as np.save did,
and that load_npy reads all of them (float64 rounded to float32) with the values listed here.
"""
import pathlib

import numpy as np

out = pathlib.Path(__file__).resolve().parent.parent / "data" / "npy"
out.mkdir(parents=True, exist_ok=True)

arrays = {
    # Exactly representable values, a negative zero and a subnormal-free tiny value.
    "float32_2x3.npy": np.array([[0.0, 0.5, -1.25], [3.0e-8, 1.0e6, -0.0]], dtype=np.float32),
    "float32_5.npy": np.arange(5, dtype=np.float32) / 4,  # rank 1: shape (5,)
    "float32_scalar.npy": np.array(2.5, dtype=np.float32),  # rank 0: shape ()
    "float32_0x3.npy": np.zeros((0, 3), dtype=np.float32),  # no data at all
    # A first extent of five digits (numpy's header padding depends on its length), no data.
    "float32_12345x0.npy": np.zeros((12345, 0), dtype=np.float32),
    "float64_4.npy": np.array([1.0 / 3.0, -2.5, 1.0e10, 7.0], dtype=np.float64),
}
for name, array in arrays.items():
    np.save(out / name, array)
    print(f"{name}: {array.dtype} {array.shape}, {(out / name).stat().st_size} bytes")
