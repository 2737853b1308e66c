#!/usr/bin/env python3
"""Renders the tpm-passkey icon at every size the bundles need.

Pure Python (zlib + struct) so that it runs on a fresh machine without PIL. Shapes are
signed-distance functions, so every size is drawn sharp and anti-aliased, not scaled.
The design: a rounded square in a deep-indigo to teal gradient carrying a white key whose
bow is a chip outline (the TPM) - "a key that lives in the chip".
"""
import math
import struct
import sys
import zlib
from pathlib import Path


def rounded_box(px, py, cx, cy, hw, hh, r):
    qx = abs(px - cx) - hw + r
    qy = abs(py - cy) - hh + r
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - r


def circle(px, py, cx, cy, r):
    return math.hypot(px - cx, py - cy) - r


def box(px, py, x0, y0, x1, y1):
    return rounded_box(px, py, (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, 0.0)


def key_glyph(x, y):
    """Distance to the white key, in unit coordinates (0..1)."""
    ring = max(circle(x, y, 0.36, 0.40, 0.17), -circle(x, y, 0.36, 0.40, 0.085))
    shaft = box(x, y, 0.47, 0.365, 0.82, 0.435)
    tooth1 = box(x, y, 0.70, 0.435, 0.75, 0.55)
    tooth2 = box(x, y, 0.61, 0.435, 0.66, 0.51)
    # chip pins under the ring: the key's bow is a TPM
    pins = min(box(x, y, 0.27 + i * 0.07, 0.60, 0.30 + i * 0.07, 0.70) for i in range(4))
    return min(ring, shaft, tooth1, tooth2, pins)


def render(size):
    rows = []
    px = 1.0 / size
    for j in range(size):
        row = bytearray([0])
        for i in range(size):
            x = (i + 0.5) / size
            y = (j + 0.5) / size
            bg = rounded_box(x, y, 0.5, 0.5, 0.46, 0.46, 0.11)
            a_bg = min(max(0.5 - bg / px, 0.0), 1.0)
            t = (x + y) / 2
            r = 49 + (13 - 49) * t
            g = 46 + (148 - 46) * t
            b = 129 + (136 - 129) * t
            k = key_glyph(x, y)
            a_key = min(max(0.5 - k / px, 0.0), 1.0)
            r = r + (255 - r) * a_key
            g = g + (255 - g) * a_key
            b = b + (255 - b) * a_key
            row += bytes((int(r + 0.5), int(g + 0.5), int(b + 0.5), int(255 * a_bg + 0.5)))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


SIZES = {"32x32.png": 32, "64x64.png": 64, "128x128.png": 128, "128x128@2x.png": 256, "icon.png": 512}

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
    for name, size in SIZES.items():
        (out / name).write_bytes(render(size))
        print(name, size)
