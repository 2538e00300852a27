#!/usr/bin/env bash
# The GPU session behind BENCHMARKS.md's H100 rows, one call on the device machine (see ../shared/gpu/README.md):
#   here: bash ../shared/gpu/fetch-wheels.sh; mkdir -p .data; cp ../shared/data/EURUSD_H1_2000_2021.csv.gz .data/
#   there (carrying .whl and .data): . .whl/opencl-nvidia.sh && bash benchmarks/run_gpu.sh
# Results land in $OUT (or ./out). SKIP_TESTS=1, TILES="LSTM/GEMM ..." steer it.
set -u
out=${OUT:-out}
mkdir -p "$out"
data=.data/EURUSD_H1_2000_2021.csv.gz
nvidia-smi -L | tee "$out/device.txt"
if [ -z "${SKIP_TESTS:-}" ]; then
  MT5BRIDGE_TEST_DEVICE=gpu python3 -m pytest -q -x -p no:cacheprovider tests/test_kernels.py tests/test_gradients.py \
    tests/test_engine.py tests/test_training.py tests/test_torch_crosscheck.py tests/test_torch_twin.py 2>&1 \
    | tail -3 | tee "$out/tests.txt"
fi
# Tiles: LSTM step (LJ x LBW x RB x LK) / GEMM (TSM x TSN x WPTM x WPTN), profiled per kernel; the fastest per
# stream count is used below.
for pair in ${TILES:-16x4x1x16/64x64x4x4 16x4x1x32/64x64x4x4 16x4x1x64/64x64x4x4 32x4x1x32/64x64x4x4 \
    16x8x1x32/64x64x4x4 16x4x1x32/128x64x8x4 16x4x1x32/128x128x8x8 16x4x1x32/64x128x4x8}; do
  for b in 32 128; do
    MT5BRIDGE_LSTM_TILE=${pair%/*} MT5BRIDGE_GEMM_TILE=${pair#*/} python3 benchmarks/quick_step_timing.py gpu $b \
      --profile >> "$out/tiles.jsonl"
  done
done
best() { python3 -c "import json; rows=[json.loads(l) for l in open('$out/tiles.jsonl')];
r=min((r for r in rows if r['streams']==$1), key=lambda r: r['train_step_s']); print(r['tile'], r['gemm_tile'])"; }
for b in 32 128; do
  read lstm gemm <<< "$(best $b)"; echo "best for B=$b: LSTM $lstm GEMM $gemm" | tee -a "$out/best.txt"
  MT5BRIDGE_LSTM_TILE=$lstm MT5BRIDGE_GEMM_TILE=$gemm python3 benchmarks/train_epoch.py --device gpu \
    --torch-device cuda --streams $b --data $data | tee -a "$out/train_epoch.txt"
done
read lstm gemm <<< "$(best 32)"
for preset in article default; do
  MT5BRIDGE_LSTM_TILE=$lstm MT5BRIDGE_GEMM_TILE=$gemm python3 benchmarks/inference_speed.py --device gpu \
    --preset $preset --data $data | tee -a "$out/inference.txt"
done
