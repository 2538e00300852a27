#!/usr/bin/env bash
# The convergence session behind docs/TRAINING.md's results, one call on the GPU machine (../shared/gpu/README.md):
#   here: bash ../shared/gpu/fetch-wheels.sh; mkdir -p .gpudata; cp ../shared/data/*.csv.gz .gpudata/
#   there (carrying .whl and .gpudata): . .whl/opencl-nvidia.sh && bash benchmarks/convergence_gpu.sh
# Runs every RUNS entry (name:preset:mode[:KEY=VALUE,...], mode split = train on EURUSD to 2017-08-01 and evaluate the
# rest, full = train on all of EURUSD) in parallel, spread over the GPUs, each stopped at LIMIT seconds if still
# training; every run also evaluates XAUUSD (all years). Results: $OUT/results.tar.gz (JSON reports, plots, logs) and
# $OUT/<name>.npz for each name in KEEP (models without Adam moments; the files that come back are limited in size).
set -u
out=${OUT:-out}
mkdir -p "$out" results
limit=${LIMIT:-540}
nvidia-smi -L | tee "$out/device.txt"
mapfile -t gpus < <(python3 - <<'PY'
from mt5bridge.opencl.runtime import list_devices
for d in list_devices():
    if d.kind == "gpu":
        print(d.index)
PY
)
echo "OpenCL GPUs: ${gpus[*]}"
i=0
for run in ${RUNS:-default:default:split}; do
  IFS=: read -r name preset mode sets <<< "$run"
  device=${gpus[$((i % ${#gpus[@]}))]}
  extra=()
  [ "$mode" = full ] && extra+=(--full)
  for kv in ${sets//,/ }; do extra+=(--set "$kv"); done
  python3 benchmarks/quality_eurusd.py --preset "$preset" --name "$name" --device "$device" --out results \
    --data .gpudata/EURUSD_H1_2000_2021.csv.gz --eval .gpudata/XAUUSD_H1_2014_2025.csv.gz \
    --time-limit "$limit" "${extra[@]}" > "results/$name.out" 2>&1 &
  i=$((i + 1))
done
wait
tail -n 4 results/*.out
tar czf "$out/results.tar.gz" --exclude='*.npz' results
for name in ${KEEP:-}; do cp "results/$name.npz" "$out/"; done
