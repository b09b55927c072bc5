#!/usr/bin/env bash
# edgefed-sim over real TLS against edgefed-server, scaled out with Open MPI: two ranks each
# run half of the devices; rank 0 merges the rounds. Checks both rounds completed with every
# device selected and the merged CSV counts all six. The server also exports each new global
# model (--export.every 1): the signed int8 graph, .tflite and .onnx.
#   sim_mpi_test.sh SERVER SIM MODEL MAKE_DEV_CERTS
set -euo pipefail
server_bin=$1 sim_bin=$2 model_bin=$3 make_certs=$4
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
export OMP_NUM_THREADS=1
"$make_certs" --out certs --devices 6 >/dev/null 2>&1
"$model_bin" init --out m.efm --model_key model.pem >/dev/null 2>&1
cat >hub.json <<'JSON'
{"device_classes": {"hub": {"train_macs_per_second": 1e9, "energy_nj_per_mac": 0.1}},
 "links": {"wifi": {"up_kbps": 1000, "down_kbps": 2000, "latency_ms": 10, "energy_nj_per_byte": 50}},
 "profiles": [{"name": "hub", "share": 1, "device_class": "hub", "link": "wifi"}]}
JSON
port=$((20000 + RANDOM % 20000))
"$server_bin" --port "$port" --model m.efm --model_key model.pem --checkpoint s.ckpt --tls.ca certs/ca.pem \
  --tls.cert certs/server.pem --tls.key certs/server.key.pem --rounds.max 2 --rounds.target_participants 6 \
  --rounds.min_participants 3 --rounds.expected_dropout 0 --rounds.selection_wait_ms 3000 \
  --export.every 1 --export.formats tflite,onnx --export.dir exports \
  --exit_when_finished true >server.log 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" server.log && break; sleep 0.1; done
mpirun -np 2 --oversubscribe --allow-run-as-root "$sim_bin" --transport tls --server.port "$port" \
  --tls.ca certs/ca.pem --tls.certs_dir certs/devices --model_public_key model.pem.pub --devices 6 \
  --data.max_train 60 --rounds.max 2 --eval.devices 3 --eval.test_items 0 --profiles hub.json --out report \
  --round_timeout_s 120 >sim.out 2>sim.err || { cat sim.out sim.err server.log; exit 1; }
wait "$server_pid" || true
server_pid=
cat sim.out
test "$(grep -c '^[12],completed,[0-9]*,6,6,' report/rounds.csv)" = 2 || { cat report/rounds.csv; exit 1; }
grep -q '"mpi_ranks": 2' report/summary.json || { echo "not run on 2 ranks"; exit 1; }
test -s report/report.html
latest=$(ls exports/model-v*.efm | sort -V | tail -1) || { cat server.log; echo "nothing exported"; exit 1; }
test -s "${latest%.efm}.tflite" && test -s "${latest%.efm}.onnx" || { ls -l exports; exit 1; }
# To a file, not a pipe: grep -q stops reading at the match and would SIGPIPE inspect.
"$model_bin" inspect --model "$latest" --public_key model.pem.pub --format json >inspect.json 2>&1 || true
grep -q '"format": "int8"' inspect.json || { cat inspect.json; ls -l exports; echo "exported graph is not a signed int8 graph"; exit 1; }
echo "sim mpi test OK"
