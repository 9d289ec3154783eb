#!/usr/bin/env bash
# Start a local 3-node openfero cluster on 127.0.0.1 to try the HA mode.
#
#   scripts/local-cluster.sh            # build (release) once, start n1 n2 n3, wait for a leader
#   Ctrl-C                              # stops the three nodes (SIGTERM by PID, then SIGKILL)
#
# Each node gets its own data dir and log under ./openfero-cluster/ (kept between runs; delete
# the folder for a fresh cluster). Try a failover: `kill -9 <pid of the leader>` (PIDs are
# printed), post alerts to the survivors, then restart it by running the printed command.
#
# Settings (environment):
#   BASE_PORT   first HTTP port (default 8081): node i listens on BASE_PORT+i-1 (API + webhook),
#               BASE_PORT+100+i-1 (Raft RPCs), UDP BASE_PORT+200+i-1 (gossip)
#   OPERARIOS   operarius folder (default ./operarios, the examples)
#   CLUSTER_DIR where data dirs and logs go (default ./openfero-cluster)
#   OPENFERO_LOG log filter (default info)
#   PROFILE     cargo profile (default release)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_PORT="${BASE_PORT:-8081}"
OPERARIOS="${OPERARIOS:-./operarios}"
CLUSTER_DIR="${CLUSTER_DIR:-./openfero-cluster}"
PROFILE="${PROFILE:-release}"
export OPENFERO_LOG="${OPENFERO_LOG:-info}"
NODES=(n1 n2 n3)

echo "== building openfero ($PROFILE)"
cargo build --profile "$PROFILE" --bin openfero
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
profile_dir="$PROFILE"
[[ "$PROFILE" == dev ]] && profile_dir=debug
BIN="$target_dir/$profile_dir/openfero"
[[ -x "$BIN" ]] || { echo "no binary at $BIN" >&2; exit 1; }

mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR="$(cd "$CLUSTER_DIR" && pwd)"
OPERARIOS="$(cd "$OPERARIOS" && pwd)"
seeds=""
for i in "${!NODES[@]}"; do
  seeds+="${seeds:+,}127.0.0.1:$((BASE_PORT + 200 + i))"
done

# A secure cluster, as production should run: a development CA and node certificates for
# mutual TLS between the nodes, and a gossip key (made once, kept in the cluster folder).
if [[ ! -f "$CLUSTER_DIR/certs/ca.pem" ]]; then
  node_args=()
  for name in "${NODES[@]}"; do node_args+=(--node "$name"); done
  "$BIN" certs init "$CLUSTER_DIR/certs" "${node_args[@]}"
fi
if [[ ! -f "$CLUSTER_DIR/gossip.keys" ]]; then
  (umask 077 && head -c32 /dev/urandom | base64 >"$CLUSTER_DIR/gossip.keys")
fi

declare -A PIDS=()

stop_all() {
  trap '' INT TERM # a second Ctrl-C must not cut the cleanup short (it is bounded: 10 s)
  trap - EXIT
  ((${#PIDS[@]})) || exit 0
  echo
  echo "== stopping: SIGTERM to ${PIDS[*]}"
  for name in "${!PIDS[@]}"; do
    kill -TERM "${PIDS[$name]}" 2>/dev/null || true
  done
  for _ in $(seq 1 100); do # up to 10 s for the graceful leave
    local running=0
    for name in "${!PIDS[@]}"; do
      kill -0 "${PIDS[$name]}" 2>/dev/null && running=1
    done
    ((running)) || break
    sleep 0.1
  done
  for name in "${!PIDS[@]}"; do
    if kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "   $name (pid ${PIDS[$name]}) did not stop in 10 s: SIGKILL"
      kill -KILL "${PIDS[$name]}" 2>/dev/null || true
    fi
    wait "${PIDS[$name]}" 2>/dev/null || true
  done
  echo "== stopped; data and logs are in $CLUSTER_DIR"
  exit 0
}
trap stop_all INT TERM EXIT

args_of() { # fills ARGS with the command line of node $1 (index $2)
  local name=$1 i=$2
  ARGS=("$BIN" serve
    --node-name "$name"
    --listen "127.0.0.1:$((BASE_PORT + i))"
    --raft-addr "127.0.0.1:$((BASE_PORT + 100 + i))"
    --gossip-addr "127.0.0.1:$((BASE_PORT + 200 + i))"
    --seeds "$seeds"
    --bootstrap-expect 3
    --data-dir "$CLUSTER_DIR/$name"
    --operarios "$OPERARIOS"
    --gossip-key-file "$CLUSTER_DIR/gossip.keys"
    --peer-tls-ca-file "$CLUSTER_DIR/certs/ca.pem"
    --peer-tls-cert-file "$CLUSTER_DIR/certs/$name.pem"
    --peer-tls-key-file "$CLUSTER_DIR/certs/$name-key.pem")
}

for i in "${!NODES[@]}"; do
  name=${NODES[$i]}
  args_of "$name" "$i"
  printf '%q ' exec "${ARGS[@]}" >"$CLUSTER_DIR/$name.cmd"
  printf '>>%q 2>&1\n' "$CLUSTER_DIR/$name.log" >>"$CLUSTER_DIR/$name.cmd"
  # A simple command in the background: $! is the openfero process itself, not a subshell.
  "${ARGS[@]}" >>"$CLUSTER_DIR/$name.log" 2>&1 &
  PIDS[$name]=$!
  echo "== started $name (pid ${PIDS[$name]}): http://127.0.0.1:$((BASE_PORT + i)), log $CLUSTER_DIR/$name.log"
done

echo "== waiting for a leader (GET /readyz on every node, up to 60 s)"
for _ in $(seq 1 600); do
  ready=0
  for i in "${!NODES[@]}"; do
    name=${NODES[$i]}
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "!! $name exited; last lines of its log:" >&2
      tail -n 20 "$CLUSTER_DIR/$name.log" >&2
      exit 1
    fi
    curl -fsS -o /dev/null "http://127.0.0.1:$((BASE_PORT + i))/readyz" 2>/dev/null && ready=$((ready + 1))
  done
  ((ready == ${#NODES[@]})) && break
  sleep 0.1
done
((ready == ${#NODES[@]})) || { echo "!! the cluster did not become ready; see the logs in $CLUSTER_DIR" >&2; exit 1; }

first="http://127.0.0.1:$BASE_PORT"
cat <<EOF

== openfero cluster is up
$(for i in "${!NODES[@]}"; do n=${NODES[$i]}; echo "   ${n}: http://127.0.0.1:$((BASE_PORT + i))   pid ${PIDS[$n]}"; done)

   membership:      curl -s $first/admin/cluster
   send an alert:   curl -s -XPOST $first/alerts -H 'content-type: application/json' -d '{"version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","status":"firing","receiver":"openfero","externalURL":"http://am","alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"web-1"},"annotations":{"summary":"web-1 is crash looping"},"startsAt":"2026-11-26T10:00:00Z","generatorURL":"http://prometheus:9090/graph"}]}'
   remediations:    curl -s $first/api/remediations
   restart a node:  bash $CLUSTER_DIR/<node>.cmd   (after killing it)

Ctrl-C stops all three.
EOF
# Wait until Ctrl-C; report nodes that exit on their own (e.g. killed to try a failover).
while ((${#PIDS[@]})); do
  wait -n "${PIDS[@]}" 2>/dev/null || true
  for name in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "== $name (pid ${PIDS[$name]}) exited; restart it with: bash $CLUSTER_DIR/$name.cmd"
      unset "PIDS[$name]"
    fi
  done
done
echo "== all nodes exited"
