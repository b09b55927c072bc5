#!/usr/bin/env bash
# Exported models in runtimes we did not write, against our interpreter on Fashion-MNIST test
# images. One stage per call, so ctest runs each runtime in its own process:
#
#   run_checks.sh setup WORK EDGEFED_MODEL EDGEFED_REFERENCE
#       a real model (1 epoch of pretraining), its float graph and int8 graph, a channel-pruned
#       int8 graph; each exported to .tflite (float io; int8 io for the int8 graphs) and .onnx;
#       our logits for all 10,000 test images (edgefed_reference) in WORK/ref/<variant>
#   run_checks.sh armnn WORK ARMNN_CHECK N       Arm NN 20.08 CpuRef on every .tflite, first N images
#   run_checks.sh tflite WORK N                  TFLite (wasm) on every .tflite
#   run_checks.sh onnxruntime WORK N             ONNX Runtime on every .onnx, optimizations off and all
#   run_checks.sh refusals WORK ARMNN_CHECK      broken files refused, disagreements caught
#
# Every runtime stage runs all its models, prints compare.py's JSON line for each (also
# appended to WORK/results.jsonl), and fails at the end naming each model that disagreed or
# that the runtime refused. Last line on success: "thirdparty <stage> OK".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OMP_NUM_THREADS=1
die() { echo "FAIL: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: run_checks.sh setup|armnn|tflite|onnxruntime|refusals WORK ..."
stage=$1 work=$2
shift 2

# variant  file  io: every exported model; it is compared with WORK/ref/<variant>.
TFLITE_MODELS=(
  "float       float.tflite              float"
  "int8        int8.tflite               float"
  "int8        int8.int8io.tflite        int8"
  "pruned_int8 pruned_int8.tflite        float"
  "pruned_int8 pruned_int8.int8io.tflite int8"
)
ONNX_MODELS=(
  "float       float.onnx       float"
  "int8        int8.onnx        float"
  "pruned_int8 pruned_int8.onnx float"
)
# A float graph has no output LSB: float32 runtimes differ by summation order only, far below
# this, and logits are of order 10.
FLOAT_GRAPH_TOLERANCE=1e-3

# step NAME COMMAND...: runs COMMAND, stdout to NAME.json, stderr to NAME.log (shown on failure).
step() {
  local name=$1
  shift
  "$@" >"$name.json" 2>"$name.log" || { cat "$name.log" >&2; die "$*"; }
}

setup() {
  local model_bin=$1 reference_bin=$2
  rm -rf "$work"
  mkdir -p "$work"
  cd "$work"
  local key=(--public_key k.pem.pub --model_key k.pem)
  # No QAT: it only retrains the weights (time), the int8 graph it makes exports the same way.
  local quantize=(quantize "${key[@]}" --qat.mode never)
  step pretrain "$model_bin" pretrain --epochs 1 --model_key k.pem --out m.efm
  step quantize "$model_bin" "${quantize[@]}" --model m.efm --out int8.efm --float_out float.efm
  step prune "$model_bin" prune --model m.efm "${key[@]}" --out pruned.efm --method channels --fraction 0.5 \
    --train_images 2000 --steps 2 --final_epochs 1 --report_test false
  step quantize_pruned "$model_bin" "${quantize[@]}" --model pruned.efm --out pruned_int8.efm
  local v io
  for v in float int8 pruned_int8; do
    step "export_$v" "$model_bin" export --model $v.efm --public_key k.pem.pub --format tflite --out $v.tflite
    step "export_${v}_onnx" "$model_bin" export --model $v.efm --public_key k.pem.pub --format onnx --out $v.onnx
    io=float
    if [ $v != float ]; then
      io=int8
      step "export_${v}_int8io" "$model_bin" export --model $v.efm --public_key k.pem.pub --format tflite --io int8 \
        --out $v.int8io.tflite
    fi
    step "reference_$v" "$reference_bin" --graph $v.efm --public_key k.pem.pub --n 10000 --io $io --out ref/$v
    echo "reference $v: $(cat "reference_$v.json")"
  done
  : >results.jsonl
}

failures=()
# compare_one RUNTIME VARIANT OUTPUTS N IO REPORT: compare.py's line, recorded.
compare_one() {
  local runtime=$1 variant=$2 outputs=$3 n=$4 io=$5 report=$6 tol=()
  [ "$variant" = float ] && tol=(--tolerance "$FLOAT_GRAPH_TOLERANCE")
  local line
  if line=$(python3 "$here/compare.py" --reference "ref/$variant" --outputs "$outputs" --n "$n" --io "$io" \
              "${tol[@]}" --report "$report" --runtime "$runtime" --variant "$variant" 2>"$outputs.compare.err"); then
    :
  else
    failures+=("$(cat "$outputs.compare.err")")
  fi
  [ -z "$line" ] || { echo "$line"; echo "$line" >>results.jsonl; }
}

# run_each RUNTIME MODELS_ARRAY_NAME N JOBS COMMAND...: COMMAND MODEL REF_DIR N OUT for each
# model, JOBS at a time, then compare.py on each output.
run_each() {
  local runtime=$1 models="$2[@]" n=$3 jobs=$4
  shift 4
  local variant file io out rc
  for m in "${!models}"; do
    read -r variant file io <<<"$m"
    out=out/$runtime.$file.bin
    (rc=0; "$@" "$file" "ref/$variant" "$n" "$out" >"$out.json" 2>"$out.err" || rc=$?; echo $rc >"$out.rc") &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  done
  wait
  for m in "${!models}"; do
    read -r variant file io <<<"$m"
    out=out/$runtime.$file.bin
    rc=$(cat "$out.rc")
    if [ "$rc" = 0 ]; then
      compare_one "$runtime" "$variant" "$out" "$n" "$io" "$out.json"
    else
      failures+=("FAIL $runtime could not run $file (exit $rc): $(grep -v '^INFO:' "$out.err" | head -5)")
    fi
  done
}

finish() {
  if [ ${#failures[@]} -gt 0 ]; then
    printf '%s\n' "${failures[@]}" >&2
    exit 1
  fi
  echo "thirdparty $stage OK"
}

# expect CODE PATTERN command...: the command exits with CODE and prints PATTERN on stderr.
expect() {
  local code=$1 pattern=$2 got=0
  shift 2
  "$@" >bad/stdout 2>bad/stderr || got=$?
  [ "$got" = "$code" ] || { cat bad/stdout bad/stderr >&2; die "$* exited $got, expected $code"; }
  grep -q -- "$pattern" bad/stderr || { cat bad/stderr >&2; die "$*: no '$pattern' on stderr"; }
}

# Broken exports are refused by each runtime with its message, and compare.py fails outputs
# that disagree with ours (doctored copies of our own logits) naming the criterion.
refusals() {
  local armnn_bin=$1
  cd "$work"
  rm -rf bad && mkdir bad
  head -c 3000 int8.int8io.tflite >bad/cut.tflite
  head -c 3000 int8.onnx >bad/cut.onnx
  expect 1 "Arm NN refused bad/cut.tflite" "$armnn_bin" bad/cut.tflite ref/int8 1 bad/out.bin
  expect 2 "fewer than N images" "$armnn_bin" int8.int8io.tflite ref/int8 10001 bad/out.bin
  expect 1 "TFLite refused bad/cut.tflite" node "$here/tflite_check.js" bad/cut.tflite ref/int8 1 bad/out.bin
  expect 1 "ONNX Runtime refused bad/cut.onnx" node "$here/ort_check.js" bad/cut.onnx ref/int8 1 bad/out.bin

  python3 "$here/doctor.py" ref/int8 bad
  local c=(python3 "$here/compare.py" --reference ref/int8 --n 10000)
  "${c[@]}" --outputs ref/int8/ours.i8 --io int8 --report bad/report_ok.json >bad/self.json ||
    die "compare.py refused our own logits: $(cat bad/self.json)"
  grep -q '"within_fraction": 1.0' bad/self.json || die "our own logits: $(cat bad/self.json)"
  expect 1 "of the logits within 1 of ours" "${c[@]}" --outputs bad/off_by_2.i8 --io int8
  expect 1 "top-1 accuracy" "${c[@]}" --outputs bad/wrong_class.i8 --io int8
  grep -q "logits within" bad/stderr && die "wrong_class.i8 changes at most 1 % of the logits: agreement must pass"
  expect 1 "of the logits within 0.1" "${c[@]}" --outputs bad/off_by_1.5lsb.f32 --io float
  expect 1 "output scale" "${c[@]}" --outputs ref/int8/ours.i8 --io int8 --report bad/report_scale.json
  expect 1 "output type float32, expected int8" "${c[@]}" --outputs ref/int8/ours.i8 --io int8 --report bad/report_type.json
  expect 2 "bytes, expected" "${c[@]}" --outputs bad/short.i8 --io int8
  echo "thirdparty refusals OK"
}

need_node_modules() {
  [ -d "$here/node_modules/$1" ] || die "$here/node_modules/$1 missing: run scripts/setup (npm ci --ignore-scripts there)"
}

case "$stage" in
  setup)
    [ $# -eq 2 ] || die "usage: run_checks.sh setup WORK EDGEFED_MODEL EDGEFED_REFERENCE"
    setup "$@"
    echo "thirdparty setup OK"
    ;;
  armnn)
    [ $# -eq 2 ] || die "usage: run_checks.sh armnn WORK ARMNN_CHECK N"
    cd "$work" && mkdir -p out
    # Two at a time: CpuRef is single-threaded and by far the slowest runtime.
    run_each armnn-cpuref TFLITE_MODELS "$2" 2 "$1"
    finish
    ;;
  tflite)
    [ $# -eq 1 ] || die "usage: run_checks.sh tflite WORK N"
    need_node_modules @tensorflow/tfjs-tflite
    cd "$work" && mkdir -p out
    run_each tflite-wasm TFLITE_MODELS "$1" 1 node "$here/tflite_check.js"
    finish
    ;;
  onnxruntime)
    [ $# -eq 1 ] || die "usage: run_checks.sh onnxruntime WORK N"
    need_node_modules onnxruntime-node
    cd "$work" && mkdir -p out
    for level in disabled all; do
      run_each "onnxruntime-$level" ONNX_MODELS "$1" 1 node "$here/ort_check.js" --level "$level"
    done
    finish
    ;;
  refusals)
    [ $# -eq 1 ] || die "usage: run_checks.sh refusals WORK ARMNN_CHECK"
    refusals "$1"
    ;;
  *) die "unknown stage '$stage'" ;;
esac
