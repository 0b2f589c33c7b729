#!/usr/bin/env python3
"""Reference for eq. 14's JPEG stage `[·]_JPEG_q`: OpenCV's JPEG round trip, as basicsr calls it.

basicsr (`basicsr/data/degradations.py: add_jpg_compression`) and GFPGAN's FFHQ degradation
dataset (`cv2.imencode('.jpg', img_lq * 255., [cv2.IMWRITE_JPEG_QUALITY, q])` then
`cv2.imdecode(..., 1)`) go through OpenCV's bundled libjpeg-turbo with its defaults: baseline,
IJG quality scaling of the Annex K tables, ISLOW DCT, 4:2:0 chroma subsampling (h2v2 box
average), and "fancy" (triangular) chroma upsampling on decode.

Pinned versions (the committed fixtures were written with exactly these):

    python3 -m venv .venv-ref
    .venv-ref/bin/pip install numpy==2.2.6 opencv-python-headless==4.11.0.86 pillow==13.0.0
    .venv-ref/bin/python scripts/reference/jpeg_reference.py

Writes to crates/diffmac-degrade/tests/fixtures/ (all images 8-bit RGB, PNG is lossless):

  jpeg_input.png            128x128 face: examples/faces/astronaut.png cropped to
                            x 128..384, y 0..256 and shrunk 2x with cv2.INTER_AREA (2x2 means)
  jpeg_q{60,90}_opencv.png  cv2.imdecode(cv2.imencode('.jpg', BGR, [QUALITY, q])); eq. 14 draws
                            q in [60, 100], and at q >= 90 the `jpeg-encoder` crate's default
                            switches to 4:4:4 while libjpeg stays 4:2:0
  jpeg_q60_opencv.jpg       the q=60 bitstream itself (to test a decoder on its own)
  jpeg_odd_q60_opencv.png   OpenCV q=60 round trip of the 101x77 window of jpeg_input.png at
                            rows 20..97, cols 14..115 (not stored: crop it from jpeg_input.png);
                            the partial 16x16 MCUs at the right and bottom edges test edge padding
  jpeg_reference.json       versions, file sha256s, and PSNRs (dB) of stand-ins vs OpenCV, for
                            q in {60, 75, 90, 100} (only 60 and 90 are stored as images)

PSNR here: 10*log10(255^2 / MSE), the MSE over every 8-bit R, G and B value of the image.

The stand-ins, measured only to show that the fixture tells 4:4:4 from 4:2:0 (nothing is
re-implemented; they are libjpeg-turbo with other settings, through Pillow):
  pillow_444       Pillow, same quality, subsampling=0 (4:4:4), which is what a 4:4:4 encoder gives
  pillow_420       Pillow, same quality, subsampling=2 (4:2:0): should equal OpenCV
  pillow_420_nearest   4:2:0 where each 2x2 chroma block takes its top-left sample instead of
                   the mean (the `jpeg-encoder` crate's default ChromaSubsamplingMethod::Nearest):
                   the RGB->YCbCr conversion is done here with libjpeg's fixed-point formula,
                   each 2x2 block of Cb and Cr is set to its top-left value, and the YCbCr image
                   is given to libjpeg as is (in_color_space JCS_YCbCr), whose 2x2 mean then
                   is that top-left value.
All candidates are decoded with cv2.imdecode, so only the encoders differ.
"""

import hashlib
import io
import json
import pathlib

import cv2
import numpy as np
import PIL
from PIL import Image, features

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "examples/faces/astronaut.png"
OUT = ROOT / "crates/diffmac-degrade/tests/fixtures"
QUALITIES = [60, 90]  # stored as fixtures
MEASURED = [60, 75, 90, 100]  # stand-in PSNRs only
ODD_WINDOW = (20, 97, 14, 115)  # rows, then columns, of jpeg_input.png


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def write_rgb_png(path: pathlib.Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    path.write_bytes(buf.tobytes())


def opencv_encode(rgb: np.ndarray, quality: int) -> bytes:
    """basicsr's call: OpenCV wants BGR, so the RGB input is swapped before encoding."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    assert ok
    return buf.tobytes()


def opencv_decode(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def pillow_encode(rgb: np.ndarray, quality: int, subsampling: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def libjpeg_rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """jccolor.c rgb_ycc_convert: 16-bit fixed point, FIX(x) = round(x * 65536)."""
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    y = (19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + (128 << 16) + 0x7FFF) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + (128 << 16) + 0x7FFF) >> 16
    return np.stack([y, cb, cr], axis=-1).astype(np.uint8)


def pillow_encode_nearest_420(rgb: np.ndarray, quality: int) -> bytes:
    ycc = libjpeg_rgb_to_ycbcr(rgb)
    h, w = ycc.shape[:2]
    for c in (1, 2):
        top_left = ycc[0::2, 0::2, c]
        ycc[..., c] = np.repeat(np.repeat(top_left, 2, axis=0), 2, axis=1)[:h, :w]
    buf = io.BytesIO()
    Image.fromarray(ycc, "YCbCr").save(buf, "JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


def main() -> None:
    src = cv2.cvtColor(cv2.imread(str(SOURCE), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    face = cv2.resize(src[0:256, 128:384], (128, 128), interpolation=cv2.INTER_AREA)
    r0, r1, c0, c1 = ODD_WINDOW
    odd = np.ascontiguousarray(face[r0:r1, c0:c1])

    OUT.mkdir(parents=True, exist_ok=True)
    files = {}

    def put_png(name, rgb):
        write_rgb_png(OUT / name, rgb)
        # Round-trip check: what a reader gets back is exactly these RGB bytes.
        assert np.array_equal(opencv_decode_png(OUT / name), rgb), name
        files[name] = {"sha256": sha256(OUT / name), "width": rgb.shape[1], "height": rgb.shape[0]}

    put_png("jpeg_input.png", face)

    cases = []
    for label, image, qualities in [("jpeg_input.png", face, MEASURED), ("jpeg_odd_window", odd, [60])]:
        prefix = "jpeg" if label == "jpeg_input.png" else "jpeg_odd"
        for q in qualities:
            data = opencv_encode(image, q)
            ref = opencv_decode(data)
            name = f"{prefix}_q{q}_opencv.png"
            if prefix == "jpeg_odd" or q in QUALITIES:
                put_png(name, ref)
            else:
                name = None
            if prefix == "jpeg" and q == 60:
                (OUT / "jpeg_q60_opencv.jpg").write_bytes(data)
                files["jpeg_q60_opencv.jpg"] = {"sha256": sha256(OUT / "jpeg_q60_opencv.jpg"), "bytes": len(data)}
            p444 = opencv_decode(pillow_encode(image, q, 0))
            p420 = opencv_decode(pillow_encode(image, q, 2))
            near = opencv_decode(pillow_encode_nearest_420(image, q))
            cases.append({
                "input": label,
                "quality": q,
                "reference": name,
                "reference_jpeg_bytes": len(data),
                "psnr_db_vs_reference": {
                    "input_itself": round(psnr(image, ref), 3),
                    "pillow_444": round(psnr(p444, ref), 3),
                    "pillow_420": round(psnr(p420, ref), 3),
                    "pillow_420_nearest": round(psnr(near, ref), 3),
                },
                "max_abs_diff_vs_reference": {
                    "pillow_444": int(np.abs(p444.astype(int) - ref).max()),
                    "pillow_420": int(np.abs(p420.astype(int) - ref).max()),
                    "pillow_420_nearest": int(np.abs(near.astype(int) - ref).max()),
                },
            })

    build = cv2.getBuildInformation()
    jpeg_line = next((line.strip() for line in build.splitlines() if line.strip().startswith("JPEG:")), "")
    meta = {
        "generator": "scripts/reference/jpeg_reference.py",
        "versions": {
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "opencv_jpeg": jpeg_line,
            "pillow": PIL.__version__,
            "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
        },
        "source": {"path": "examples/faces/astronaut.png", "sha256": sha256(SOURCE),
                   "crop_xywh": [128, 0, 256, 256], "resize": "cv2.INTER_AREA to 128x128",
                   "odd_window_rows_cols": [[r0, r1], [c0, c1]]},
        "round_trip": "cv2.imdecode(cv2.imencode('.jpg', RGB2BGR(x), [cv2.IMWRITE_JPEG_QUALITY, q]), IMREAD_COLOR), BGR2RGB",
        "psnr": "10*log10(255^2/MSE), MSE over all 8-bit RGB values",
        "qualities": QUALITIES,
        "measured_qualities": MEASURED,
        "files": files,
        "cases": cases,
    }
    (OUT / "jpeg_reference.json").write_text(json.dumps(meta, indent=1) + "\n")
    for case in cases:
        print(case["input"], case["quality"], case["psnr_db_vs_reference"], case["max_abs_diff_vs_reference"])
    total = sum((OUT / n).stat().st_size for n in files) + (OUT / "jpeg_reference.json").stat().st_size
    print(f"wrote {len(files) + 1} files to {OUT} ({total} bytes)")


def opencv_decode_png(path: pathlib.Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


if __name__ == "__main__":
    main()
