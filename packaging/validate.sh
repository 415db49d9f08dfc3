#!/usr/bin/env bash
# Validate the freedesktop desktop entry and the AppStream metainfo in packaging/linux/.
# Installs the validators (Debian packages desktop-file-utils and appstream) when they are missing.
# Usage: bash packaging/validate.sh        (from any directory; exits non-zero on any error)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app_id="io.github.vae_explorer.VaeExplorer"
desktop="$here/linux/$app_id.desktop"
metainfo="$here/linux/$app_id.metainfo.xml"

missing=()
command -v desktop-file-validate >/dev/null 2>&1 || missing+=(desktop-file-utils)
command -v appstreamcli >/dev/null 2>&1 || missing+=(appstream)
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "validate.sh: please install ${missing[*]} (no apt-get here)" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "validate.sh: ${missing[*]} missing, and neither root nor sudo is available to install them" >&2
    exit 1
  fi
  echo "validate.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "desktop-file-validate $(basename "$desktop")"
desktop-file-validate "$desktop"

echo "appstreamcli validate --no-net $(basename "$metainfo")"
appstreamcli validate --no-net "$metainfo"

# the icon the entry names is installed from these files (see packaging/README.md)
for size in 16 32 48 64 128 256; do
  test -s "$here/../resources/icons/vae-explorer-$size.png" || { echo "validate.sh: missing icon PNG $size" >&2; exit 1; }
done
test -s "$here/../resources/icons/vae-explorer.svg" || { echo "validate.sh: missing icon SVG" >&2; exit 1; }

echo "validate.sh: desktop entry, metainfo and icons are valid"
