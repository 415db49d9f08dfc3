#!/usr/bin/env bash
# The GPU checks in one run, for a machine with an NVIDIA GPU (issue: the GPU path, measured).
# Installs what is missing from carried wheels (benchmarks/gpu/fetch_wheels.sh), then runs the
# CUDA-marked tests, the training throughput against the course template, a full default run with
# early stopping, the IW-5000 / FID / IS timings on its model, the GUI latency with the trainer on
# the GPU, and a profile of captured and eager epochs. Every figure goes to OUT_DIR (default $OUT,
# else gpu-figures/); summary.txt holds the lines a note needs.
# Usage: bash benchmarks/gpu/check.sh [OUT_DIR] [--quick] [PART...]
#   --quick: short settings, for a try on the CPU.
#   PART: tests, throughput, full (the full run, then its evaluation), fast (a full run of the
#   fast preset: large batches, where a GPU pays off), gui, profile; default all.
#   On a machine lent for 10 minutes a call, split them: `tests throughput profile`, then
#   `full fast gui`.
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-figures}"
quick=""
parts=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    tests|throughput|full|fast|gui|profile) parts+=("$arg") ;;
    *) out="$arg" ;;
  esac
done
[ ${#parts[@]} -gt 0 ] || parts=(tests throughput full fast gui profile)
wanted() { [[ " ${parts[*]} " == *" $1 "* ]]; }
mkdir -p "$out"
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen OMP_WAIT_POLICY=PASSIVE
scratch="$(mktemp -d)"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$scratch/site" .whl/*.whl || exit 1
  export PYTHONPATH="$scratch/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export XDG_CONFIG_HOME="$scratch/config" XDG_DATA_HOME="$scratch/data" XDG_CACHE_HOME="$scratch/cache"
device=cuda
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || device=cpu
summary="$out/summary.txt"
note() { echo "$*" | tee -a "$summary"; }
step() { echo; echo "== $* ($(date +%T))"; }

echo "parts: ${parts[*]}" > "$summary"
step environment
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' | tee -a "$summary"
python3 -c 'import torch, PySide6, sys; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, PySide6 {PySide6.__version__}, cuda={torch.cuda.is_available()}")' | tee -a "$summary"
note "device=$device cores=$(nproc)"

if [ -n "$quick" ]; then
  epochs=(--epochs 2 --limit-train 2000 --limit-val 500 --limit-test 500); seconds=5; batches=300; samples=50
  profile=(--limit-train 3200)
else
  epochs=(); seconds=20; batches=3000; samples=5000; profile=()
fi

if wanted tests; then
step "tests marked cuda"
timeout 400 python3 -m pytest -q -m cuda -p no:cacheprovider -o addopts="-ra" 2>&1 | tee "$out/tests.txt" | tail -25
note "tests: $(tail -1 "$out/tests.txt")"
fi

if wanted throughput; then
step "training throughput, batch size 32"
timeout 400 python3 benchmarks/train_throughput.py --device "$device" --rounds 2 --batches "$batches" \
  --max-seconds 30 2>&1 | tee "$out/throughput.txt"
grep -E '^(  project step|graph_vs_eager|epoch_seconds_50k|speedup_vs_template)' "$out/throughput.txt" >> "$summary"
fi

if wanted full; then
step "a full default run (50,000/10,000/10,000, early stopping), as the CLI runs it"
run="$scratch/runs/default"
started=$(date +%s.%N)
timeout 420 python3 -m vae_explorer train --device "$device" --out "$run" --eval-iw-samples 10 "${epochs[@]}" \
  2>&1 | tee "$out/full_run.txt" | grep -vE '^epoch ' | tail -12
ended=$(date +%s.%N)
note "full default run: $(python3 -c "print(f'{$ended - $started:.1f}')") s wall, process start to exit; $(grep -c '^epoch ' "$out/full_run.txt") epochs"
grep -E '^(training step|finished)' "$out/full_run.txt" >> "$summary"
python3 - "$out/full_run.txt" >> "$summary" <<'PY'
import re, statistics, sys
times = [float(m.group(1)) for m in re.finditer(r"^epoch .* ([0-9.]+)s$", open(sys.argv[1]).read(), re.M)]
if times:
    print(f"epoch seconds (training only): median {statistics.median(times):.3f}, first {times[0]:.3f}, sum {sum(times):.1f}")
PY
cp "$run/outcome.json" "$out/outcome.json" 2>/dev/null

step "evaluation: IW-NLL S=$samples on the test set, FID and IS over 10,000 samples"
timeout 300 python3 benchmarks/evaluation.py "$run/model.pt" --device "$device" --samples "$samples" \
  2>&1 | tee "$out/evaluation.txt"
grep -E '^iw_test_seconds' "$out/evaluation.txt" >> "$summary"
fi

if wanted fast; then
step "a full run of the fast preset (batches of 256, cosine-decayed rate), as the CLI runs it"
run="$scratch/runs/fast"
started=$(date +%s.%N)
timeout 420 python3 -m vae_explorer train --preset fast --device "$device" --out "$run" --eval-iw-samples 10 \
  "${epochs[@]}" 2>&1 | tee "$out/fast_run.txt" | grep -vE '^epoch ' | tail -8
ended=$(date +%s.%N)
note "fast preset run: $(python3 -c "print(f'{$ended - $started:.1f}')") s wall, process start to exit; $(grep -c '^epoch ' "$out/fast_run.txt") epochs"
grep -E '^(training step|finished)' "$out/fast_run.txt" | sed 's/^/fast: /' >> "$summary"
fi

if wanted gui; then
step "GUI latency while the window trains on the $device"
timeout 200 python3 benchmarks/gui_latency.py --device "$device" --seconds "$seconds" 2>&1 | tee "$out/gui_latency.txt"
grep -E '^(training meanwhile|training step|gui_latency_p99_ms)' "$out/gui_latency.txt" >> "$summary"
fi

if wanted profile; then
step "where an epoch's time goes (torch profiler)"
timeout 200 python3 benchmarks/gpu/profile_epoch.py --device "$device" --out "$out" "${profile[@]}" 2>&1 | tee "$out/profile.txt" | tail -40
grep -E '^epoch_profile' "$out/profile.txt" >> "$summary"
fi

step summary
cat "$summary"
rm -rf "$scratch"
