#!/usr/bin/env bash
# Server killed with SIGKILL after round 2 and restarted: it resumes at round 3 with the same
# model version, and the devices (two edgefed-client processes and the C-ABI example) carry
# on with the state they kept on disk.
#   restart_test.sh SERVER CLIENT MODEL C_DEVICE MAKE_DEV_CERTS
set -euo pipefail
server_bin=$1 client_bin=$2 model_bin=$3 c_device_bin=$4 make_certs=$5
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
export OMP_NUM_THREADS=1
"$make_certs" --out certs --devices 3 >/dev/null 2>&1
"$model_bin" init --out models/m.efm --model_key keys/model.pem >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))

start_server() {  # $1: log file, then extra flags
  local log=$1; shift
  "$server_bin" --port "$port" --model models/m.efm --model_key keys/model.pem --checkpoint state/server.ckpt \
    --tls.ca certs/ca.pem --tls.cert certs/server.pem --tls.key certs/server.key.pem \
    --rounds.target_participants 3 --rounds.min_participants 3 --rounds.expected_dropout 0 \
    --rounds.selection_wait_ms 300 --rounds.train_deadline_ms 60000 --rounds.stage_deadline_ms 20000 \
    "$@" >"$log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}
wait_for() {  # $1: file, $2: pattern, $3: seconds
  for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1"; cat "$1"; return 1
}

start_server server1.log
wait_for server1.log "listening on" 20
for i in 1 2; do
  "$client_bin" --server.port "$port" --tls.cert "certs/devices/device-000$i.pem" \
    --tls.key "certs/devices/device-000$i.key.pem" --state_dir "devices/$i" --data.device "$i" \
    >"client$i.out" 2>"client$i.log" &
  pids+=("$!")
  client_pids[$i]=$!
done
cat >c_device.json <<JSON
{"port": $port, "tls": {"ca": "certs/ca.pem", "cert": "certs/devices/device-0003.pem",
 "key": "certs/devices/device-0003.key.pem"}, "model_public_key": "keys/model.pem.pub",
 "state_dir": "devices/3", "reconnect_max_ms": 2000}
JSON
"$c_device_bin" c_device.json 0 300 0 >c_device.out 2>c_device.log &
pids+=("$!")

wait_for server1.log 'msg="round ended" round=2 outcome=completed' 120
kill -9 "$server_pid"
grep -q "model_version=3" <(grep 'round ended" round=2' server1.log) || { echo "round 2 did not reach model 3"; exit 1; }
echo "server killed after round 2"

start_server server2.log --rounds.max 1 --exit_when_finished true
wait_for server2.log "listening on" 20
grep -q "model version 3)" server2.log || { echo "restarted server is not at model version 3"; cat server2.log; exit 1; }
grep -q 'resuming from checkpoint.*next_round=3' server2.log || { echo "no resume at round 3"; cat server2.log; exit 1; }
wait_for server2.log 'msg="round ended" round=3 outcome=completed' 120
wait $server_pid || { echo "restarted server failed"; cat server2.log; exit 1; }
grep -q '"model_version":4' server2.log || { echo "final model version is not 4"; tail -3 server2.log; exit 1; }
# No device fetched the whole model again after the restart: their state survived.
if grep -q 'resuming from checkpoint' server2.log && grep 'device hello' server2.log | grep -qv 'model_version=3'; then
  echo "a device came back without its model"; grep 'device hello' server2.log; exit 1
fi
sleep 1
for i in 1 2; do kill -TERM "${client_pids[$i]}"; done
for i in 1 2; do wait "${client_pids[$i]}" || true; done
for i in 1 2; do
  grep -q '"model_version": 4' "client$i.out" || { echo "device $i did not end at model 4"; cat "client$i.out" "client$i.log"; exit 1; }
done
echo "restart test OK"
