#!/usr/bin/env bash
# The GPU session behind BENCHMARKS.md's H100 rows, one call on the device machine (see ../shared/gpu/README.md):
#   here: bash ../shared/gpu/fetch-wheels.sh; mkdir -p .data; cp ../shared/data/EURUSD_H1_2000_2021.csv.gz .data/
#   there (carrying .whl and .data): . .whl/opencl-nvidia.sh && bash benchmarks/run_gpu.sh
# Results land in $OUT (or ./out).
set -u
out=${OUT:-out}
mkdir -p "$out"
data=.data/EURUSD_H1_2000_2021.csv.gz
nvidia-smi -L | tee "$out/device.txt"
MT5BRIDGE_TEST_DEVICE=gpu python3 -m pytest -q -x -p no:cacheprovider tests/test_kernels.py tests/test_gradients.py \
  tests/test_engine.py tests/test_training.py tests/test_torch_crosscheck.py tests/test_torch_twin.py 2>&1 \
  | tail -3 | tee "$out/tests.txt"
for tile in ${TILES:-16x4 16x8 16x16 32x8}; do
  for b in 32 128; do
    MT5BRIDGE_LSTM_TILE=$tile python3 benchmarks/quick_step_timing.py gpu $b | tee -a "$out/tiles.jsonl"
  done
done
python3 benchmarks/train_epoch.py --device gpu --torch-device cuda --streams 32 128 --data $data \
  | tee "$out/train_epoch.txt"
python3 benchmarks/inference_speed.py --device gpu --data $data | tee "$out/inference.txt"
python3 benchmarks/inference_speed.py --device gpu --preset default --data $data | tee -a "$out/inference.txt"
