#!/usr/bin/env bash
# The GPU session behind BENCHMARKS.md's H100 rows, one call on the device machine (see ../shared/gpu/README.md):
#   here: bash ../shared/gpu/fetch-wheels.sh; mkdir -p .data; cp ../shared/data/EURUSD_H1_2000_2021.csv.gz .data/
#   there (carrying .whl and .data): . .whl/opencl-nvidia.sh && bash benchmarks/run_gpu.sh
# Results land in $OUT (or ./out). FINAL=1: the defaults only (BENCHMARKS.md); SKIP_TESTS=1, TILES="LSTM/SPLIT ...".
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
if [ -n "${FINAL:-}" ]; then  # the defaults, as BENCHMARKS.md reports them
  python3 benchmarks/train_epoch.py --device gpu --torch-device cuda --streams 32 128 --data $data \
    | tee "$out/train_epoch.txt"
  python3 benchmarks/train_epoch.py --device gpu --torch-device cuda --preset default --streams 32 --data $data \
    | tee -a "$out/train_epoch.txt"
  for preset in article default; do
    python3 benchmarks/inference_speed.py --device gpu --preset $preset --data $data | tee -a "$out/inference.txt"
  done
  exit 0
fi
# LSTM step tiles (LJ x LBW x RB x LK) / split threshold (forward step as GEMM + gates from this many streams),
# profiled per kernel; the fastest per stream count is used below. (GEMM tiles: 64x64x4x4 won an earlier sweep.)
for pair in ${TILES:-16x4x1x64/0 16x4x2x64/0 16x2x4x64/0 16x8x1x64/0 16x4x4x64/0 16x4x1x64/32}; do
  for b in 32 128; do
    MT5BRIDGE_LSTM_TILE=${pair%/*} MT5BRIDGE_LSTM_SPLIT=${pair#*/} python3 benchmarks/quick_step_timing.py gpu $b \
      --profile >> "$out/tiles.jsonl"
  done
done
best() { python3 -c "import json; rows=[json.loads(l) for l in open('$out/tiles.jsonl')];
r=min((r for r in rows if r['streams']==$1), key=lambda r: r['train_step_s']); print(r['tile'], r['split'])"; }
for b in 32 128; do
  read lstm split <<< "$(best $b)"; echo "best for B=$b: LSTM $lstm split $split" | tee -a "$out/best.txt"
  MT5BRIDGE_LSTM_TILE=$lstm MT5BRIDGE_LSTM_SPLIT=$split python3 benchmarks/train_epoch.py --device gpu \
    --torch-device cuda --streams $b --data $data | tee -a "$out/train_epoch.txt"
done
read lstm split <<< "$(best 32)"
for preset in article default; do
  MT5BRIDGE_LSTM_TILE=$lstm python3 benchmarks/inference_speed.py --device gpu --preset $preset --data $data \
    | tee -a "$out/inference.txt"
done
