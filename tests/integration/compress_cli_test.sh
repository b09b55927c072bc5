#!/usr/bin/env bash
# edgefed-model prune | quantize | inspect | eval | export end to end on an untrained model and real
# Fashion-MNIST (small budgets: this checks the plumbing and the refusals, not accuracy —
# edgefed-bench compress measures that), then bad input: truncated, tampered and wrongly
# signed files, a graph given where a model is needed, unknown options.
#   compress_cli_test.sh MODEL_BIN
set -euo pipefail
model_bin=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMP_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
# expect_error CODE PATTERN command...: exits with CODE and prints PATTERN on stderr
expect_error() {
  local code=$1 pattern=$2; shift 2
  set +e; "$@" >out.txt 2>err.txt; local got=$?; set -e
  [ "$got" = "$code" ] || { cat err.txt; fail "$* exited $got, expected $code"; }
  grep -q -- "$pattern" err.txt || { cat err.txt; fail "$*: no '$pattern' in stderr"; }
}
json_field() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])$2)" "$1"; }

quick=(--train_images 300 --validation 500)
"$model_bin" init --out m.efm --model_key key.pem >/dev/null 2>&1

"$model_bin" prune --model m.efm --public_key key.pem.pub --model_key key.pem --out pruned.efm "${quick[@]}" \
  --method channels --fraction 0.25 --steps 2 --final_epochs 1 --report_test false >prune.json 2>prune.log
python3 - prune.json <<'PY'
import json, sys
p = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert p["channels_before"] == [16, 32, 64] and sum(p["channels_after"]) == 112 - 28, p  # 25 % of 112
PY
read -r c1 c2 _ < <(python3 -c "import json; print(*json.loads(open('prune.json').read().splitlines()[-1])['channels_after'])")

"$model_bin" prune --model m.efm --public_key key.pem.pub --model_key key.pem --out sparse.efm "${quick[@]}" \
  --method magnitude --sparsity 0.5 --epochs 1 --report_test false >magnitude.json 2>magnitude.log
python3 - magnitude.json <<'PY'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])["sparsity"]
assert all(abs(v - 0.5) < 0.01 for v in s.values()), s
PY

"$model_bin" quantize --model pruned.efm --public_key key.pem.pub --model_key key.pem --out pruned.int8.efm \
  --float_out pruned.f32.efm "${quick[@]}" --calibration.samples 20 --qat.mode always --qat.epochs 1 >quantize.json 2>quantize.log
[ "$(json_field quantize.json "['qat']")" = "True" ] || fail "QAT was forced but not used"
python3 - quantize.json <<'PY'
import json, sys
q = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert q["bytes"]["ratio"] < 0.3, q["bytes"]
assert 0 <= q["test_accuracy_int8"] <= 1
PY

"$model_bin" inspect --model pruned.int8.efm --public_key key.pem.pub --format json >inspect.json
python3 - inspect.json "$c1" "$c2" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))
assert i["format"] == "int8" and i["macs"] > 0 and i["peak_activation_bytes"] > 0, i
w = [t for t in i["tensors"] if t["name"] == "conv2.weight"][0]
c1, c2 = int(sys.argv[2]), int(sys.argv[3])
assert w["dtype"] == "int8" and w["shape"] == [c2, 3, 3, c1] and w["scales"] == c2, w
PY
"$model_bin" inspect --model pruned.int8.efm --public_key key.pem.pub >inspect.txt  # (no pipe: grep -q would SIGPIPE it)
grep -q "peak activations" inspect.txt || fail "inspect text"
"$model_bin" eval --model pruned.int8.efm --public_key key.pem.pub >eval.json
"$model_bin" eval --model m.efm --public_key key.pem.pub >eval_float.json
python3 - eval.json quantize.json eval_float.json <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
q = json.loads(open(sys.argv[2]).read().splitlines()[-1])
f = json.load(open(sys.argv[3]))
assert e["format"] == "int8" and e["examples"] == 10000, e
assert e["test_accuracy"] == q["test_accuracy_int8"], (e, q)
assert abs(f["test_accuracy"] - f["torch_test_accuracy"]) < 0.002, f   # deployable float graph == LibTorch
PY

"$model_bin" export --model pruned.int8.efm --public_key key.pem.pub --format tflite --io int8 --out m.tflite >export.json
python3 - export.json <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
assert e["io"] == "int8" and e["input"]["type"] == "INT8" and e["output"]["type"] == "INT8" and e["bytes"] > 10000, e
PY
"$model_bin" export --model pruned.int8.efm --public_key key.pem.pub --format onnx --out m.onnx >/dev/null
test -s m.tflite && test -s m.onnx || fail "export wrote nothing"

# Bad input: each refused with a clear message, nothing written.
expect_error 2 "int8" "$model_bin" export --model m.efm --public_key key.pem.pub --io int8 --out y.tflite
expect_error 2 "softmax" "$model_bin" export --model m.efm --public_key key.pem.pub --format onnx --softmax true \
  --out y.onnx
[ ! -e y.tflite ] && [ ! -e y.onnx ] || fail "a refused export wrote a file"
head -c 3000 pruned.int8.efm >cut.efm
expect_error 1 "truncated" "$model_bin" eval --model cut.efm --public_key key.pem.pub
python3 -c "import sys; b = bytearray(open('pruned.int8.efm','rb').read()); b[200] ^= 1; open('tampered.efm','wb').write(b)"
expect_error 1 "corrupted\|checksum" "$model_bin" inspect --model tampered.efm --public_key key.pem.pub
"$model_bin" init --out other.efm --model_key other.pem >/dev/null 2>&1
expect_error 1 "not signed" "$model_bin" eval --model pruned.int8.efm --public_key other.pem.pub
expect_error 2 "already a deployable graph" "$model_bin" quantize --model pruned.int8.efm --public_key key.pem.pub \
  --model_key key.pem --out x.efm "${quick[@]}"
[ ! -e x.efm ] || fail "quantize wrote a file after refusing"
expect_error 2 "not one of minmax, percentile, mse" "$model_bin" quantize --model m.efm --public_key key.pem.pub \
  --model_key key.pem --out x.efm --calibration.method kl
expect_error 2 "not one of channels, magnitude" "$model_bin" prune --model m.efm --public_key key.pem.pub \
  --model_key key.pem --out x.efm --method random
expect_error 2 "fraction" "$model_bin" prune --model m.efm --public_key key.pem.pub --model_key key.pem --out x.efm \
  "${quick[@]}" --fraction 1.5
[ ! -e x.efm ] || fail "a refused command wrote a file"
echo "compress cli test OK"
