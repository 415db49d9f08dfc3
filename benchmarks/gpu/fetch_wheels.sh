#!/usr/bin/env bash
# Run here (with network), before lending the GPU machine a run: the Python packages the app and
# its tests need that the GPU machine's image lacks (its python3 is 3.12 with torch, torchvision,
# torchmetrics, numpy, matplotlib and pytest), as x86-64 wheels for Python 3.12 in .whl/, with
# PySide6 slimmed to fit the 64 MiB a run may carry. .whl/ is ignored by git.
# Usage: bash benchmarks/gpu/fetch_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl /tmp/vae-explorer-wheels
mkdir -p .whl /tmp/vae-explorer-wheels
platforms=(--platform manylinux2014_x86_64)
for n in 17 24 27 28 31 34 35 36 38 39; do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d /tmp/vae-explorer-wheels \
  'PySide6-Essentials==6.11.3' 'shiboken6==6.11.3' 'pyqtgraph==0.14.0' 'pytest-qt==4.5.0'
for whl in /tmp/vae-explorer-wheels/*.whl; do
  case "$(basename "$whl")" in
    pyside6_essentials-*) python3 benchmarks/gpu/slim_wheel.py "$whl" .whl ;;
    *) cp "$whl" .whl/ ;;
  esac
done
du -ch .whl/* | tail -1
