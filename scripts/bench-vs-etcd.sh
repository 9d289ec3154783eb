#!/usr/bin/env bash
# Replicated write rate of openfero against etcd, side by side in one run on this machine.
#
#   scripts/bench-vs-etcd.sh
#
# Starts 3 etcd members and 3 openfero nodes on loopback addresses only (etcd on 127.0.0.21-23,
# openfero on 127.0.0.11-13), loads both with the same plan and prints one table:
#
#   1 connection to the leader | 1 connection to a follower | 16 and 64 connections spread
#   over the 3 members
#
# Every request carries a distinct ~750-byte body: an etcd v3 put (JSON gateway, a distinct key)
# and an Alertmanager webhook to openfero's POST /alerts (a distinct alert). Both answer after a
# quorum has the write on disk. Rows alternate etcd/openfero so both see the same machine load.
# With several wrk processes (one per member) req/s are summed and p50/p99 are the worst of
# the members'.
#
# Installs Debian's etcd-server and wrk with apt-get when missing. Every process it starts is
# stopped by PID on exit (also on error and Ctrl-C); the whole run is bounded (see DEADLINE).
#
# Settings (environment):
#   DURATION        seconds per load row (default 10)
#   WARMUP          seconds of load before each measured row (default 2)
#   OPENFERO_BIN    openfero binary (default: build the release binary with cargo)
#   BENCH_PEER_TLS  1 (default): openfero nodes talk mutual TLS, as in production; 0: plain
#   BENCH_DIR       work folder (default: a new temporary folder, deleted at the end)
#   OPENFERO_ARGS   extra flags for every openfero node
#   DEADLINE        seconds after which the run gives up (default 900)
#   ONLY_ROWS       the rows to run, 0-3 in the order above (default "0 1 2 3")
#   BENCH_STRACE    1: run the openfero nodes under strace (seccomp filter, fsync/fdatasync
#                   only) and print each node's disk syncs per 1 000 acknowledged webhooks
#   FILL_AT         e.g. "100000 1000000": after the table, keep loading openfero (64
#                   connections) and print each node's RSS, held alerts and data size each time
#                   that many webhooks were acknowledged in this phase (raise DEADLINE to match;
#                   with OPENFERO_ARGS="--retention-alerts 100000" for the issue's figures)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
BENCH_PEER_TLS="${BENCH_PEER_TLS:-1}"
DEADLINE="${DEADLINE:-900}"
OPENFERO_ARGS="${OPENFERO_ARGS:-}"
START_TIME=$SECONDS
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

ETCD_IPS=(127.0.0.21 127.0.0.22 127.0.0.23)
OF_IPS=(127.0.0.11 127.0.0.12 127.0.0.13)
OF_NAMES=(n1 n2 n3)
OF_API_PORT=18080
OF_RAFT_PORT=18180
OF_GOSSIP_PORT=18280

log() { printf '== %s\n' "$*" >&2; }
die() {
  printf '!! %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Tools.

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  log "installing ${need[*]} (apt-get)"
  sudo_cmd=()
  ((EUID == 0)) || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
ETCD_BIN="$(command -v etcd)"

if [[ -z "${OPENFERO_BIN:-}" ]]; then
  log "building openfero (release)"
  cargo build --release --bin openfero
  target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  OPENFERO_BIN="$target_dir/release/openfero"
fi
[[ -x "$OPENFERO_BIN" ]] || die "no openfero binary at $OPENFERO_BIN"

# ---------------------------------------------------------------------------------------------
# Processes, stopped by PID.

OWN_DIR=0
if [[ -z "${BENCH_DIR:-}" ]]; then
  BENCH_DIR="$(mktemp -d /tmp/bench-vs-etcd.XXXXXX)"
  OWN_DIR=1
fi
mkdir -p "$BENCH_DIR"
PIDS=()
OF_PIDS=()
STRACE_PIDS=()

cleanup() {
  local status=$?
  trap '' INT TERM
  trap - EXIT
  if ((${#PIDS[@]})); then
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do # up to 5 s, then SIGKILL
      local alive=0
      for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
      done
      ((alive)) || break
      sleep 0.1
    done
    for pid in "${PIDS[@]}"; do
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  fi
  if ((OWN_DIR)) && ((status == 0)); then
    rm -rf "$BENCH_DIR"
  elif ((status != 0)); then
    printf '!! failed; logs are in %s\n' "$BENCH_DIR" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

check_deadline() {
  ((SECONDS - START_TIME < DEADLINE)) || die "over the deadline of ${DEADLINE}s"
}

# Wait up to $1 seconds for the command that follows to succeed.
wait_until() {
  local secs=$1
  shift
  local i
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# etcd: 3 members.

initial_cluster=""
for i in 0 1 2; do
  initial_cluster+="${initial_cluster:+,}e$((i + 1))=http://${ETCD_IPS[$i]}:2380"
done
for i in 0 1 2; do
  ip=${ETCD_IPS[$i]}
  "$ETCD_BIN" --name "e$((i + 1))" --data-dir "$BENCH_DIR/etcd-$((i + 1))" \
    --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
    --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
    --initial-cluster "$initial_cluster" --initial-cluster-state new \
    --initial-cluster-token bench-vs-etcd --log-level error \
    >"$BENCH_DIR/etcd-$((i + 1)).log" 2>&1 &
  PIDS+=($!)
done

etcd_status() { # member id and leader id of member $1
  curl -sf -m 2 -X POST -d '{}' "http://${ETCD_IPS[$1]}:2379/v3/maintenance/status"
}
etcd_has_leader() {
  etcd_status "$1" | grep -q '"leader":"[1-9]'
}
for i in 0 1 2; do
  wait_until 30 etcd_has_leader "$i" || die "etcd member $((i + 1)) has no leader (see $BENCH_DIR)"
done
etcd_leader=""
for i in 0 1 2; do
  s="$(etcd_status "$i")"
  member="$(sed -n 's/.*"member_id":"\([0-9]*\)".*/\1/p' <<<"$s")"
  leader="$(sed -n 's/.*"leader":"\([0-9]*\)".*/\1/p' <<<"$s")"
  [[ -n "$member" && "$member" == "$leader" ]] && etcd_leader=$i
done
[[ -n "$etcd_leader" ]] || die "no etcd leader found"
log "etcd: 3 members, leader ${ETCD_IPS[$etcd_leader]}"

# ---------------------------------------------------------------------------------------------
# openfero: 3 nodes, peer TLS on unless BENCH_PEER_TLS=0.

mkdir -p "$BENCH_DIR/operarios"
(umask 077 && head -c32 /dev/urandom | base64 >"$BENCH_DIR/gossip.keys")
if [[ "$BENCH_PEER_TLS" == 1 ]]; then
  "$OPENFERO_BIN" certs init "$BENCH_DIR/certs" --node n1 --node n2 --node n3 >/dev/null
fi
seeds=""
for i in 0 1 2; do
  seeds+="${seeds:+,}${OF_IPS[$i]}:$OF_GOSSIP_PORT"
done
read -r -a extra <<<"$OPENFERO_ARGS"
for i in 0 1 2; do
  name=${OF_NAMES[$i]}
  ip=${OF_IPS[$i]}
  args=(serve --node-name "$name" --listen "$ip:$OF_API_PORT" --raft-addr "$ip:$OF_RAFT_PORT"
    --gossip-addr "$ip:$OF_GOSSIP_PORT" --seeds "$seeds" --bootstrap-expect 3
    --data-dir "$BENCH_DIR/$name" --operarios "$BENCH_DIR/operarios"
    --gossip-key-file "$BENCH_DIR/gossip.keys" --log warn)
  if [[ "$BENCH_PEER_TLS" == 1 ]]; then
    args+=(--peer-tls-ca-file "$BENCH_DIR/certs/ca.pem"
      --peer-tls-cert-file "$BENCH_DIR/certs/$name.pem"
      --peer-tls-key-file "$BENCH_DIR/certs/$name-key.pem")
  else
    args+=(--insecure-cluster)
  fi
  if [[ "${BENCH_STRACE:-0}" == 1 ]]; then
    strace -f -qq --seccomp-bpf -c -e trace=fdatasync,fsync -o "$BENCH_DIR/$name.strace" \
      "$OPENFERO_BIN" "${args[@]}" "${extra[@]}" >"$BENCH_DIR/$name.log" 2>&1 &
    tracer=$!
    PIDS+=("$tracer")
    STRACE_PIDS+=("$tracer")
    wait_until 10 pgrep -P "$tracer" || die "strace started no openfero"
    OF_PIDS+=("$(pgrep -P "$tracer")")
    PIDS+=("${OF_PIDS[-1]}")
  else
    "$OPENFERO_BIN" "${args[@]}" "${extra[@]}" >"$BENCH_DIR/$name.log" 2>&1 &
    PIDS+=($!)
    OF_PIDS+=($!)
  fi
done

of_ready() { curl -sf -m 2 "http://${OF_IPS[$1]}:$OF_API_PORT/readyz"; }
for i in 0 1 2; do
  wait_until 90 of_ready "$i" || die "openfero ${OF_NAMES[$i]} not ready (see $BENCH_DIR)"
done
of_header() { # header $2 of node $1's alert list
  curl -sf -m 2 -D - -o /dev/null "http://${OF_IPS[$1]}:$OF_API_PORT/api/alerts?limit=1" |
    tr -d '\r' | sed -n "s/^$2: //Ip"
}
of_leader=""
for i in 0 1 2; do
  [[ "$(of_header "$i" x-openfero-node)" == "$(of_header "$i" x-openfero-leader)" ]] && of_leader=$i
done
[[ -n "$of_leader" ]] || die "no openfero leader found"
log "openfero: 3 nodes (peer TLS: $BENCH_PEER_TLS), leader ${OF_IPS[$of_leader]}"

# ---------------------------------------------------------------------------------------------
# Load: wrk with a body made per request.

# Each wrk run gets a distinct alphanumeric prefix as its argument and each of its threads a
# number, so no two requests of the whole run carry the same key or alert.
ids_lua='
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = args[1] .. "t" .. tid
  n = 0
end
'
# A base64 padding (700 characters) shared by every etcd value; keys and values differ by a
# per-request prefix of base64 characters, so every put is distinct and valid base64.
pad="$(head -c 525 /dev/zero | tr '\0' 'v' | base64 -w0)"
cat >"$BENCH_DIR/etcd.lua" <<EOF
$ids_lua
local pad = "$pad"
request = function()
  n = n + 1
  local key = string.format("%sn%010d", prefix, n)
  key = key .. string.rep("A", (4 - #key % 4) % 4)
  local body = '{"key":"' .. key .. '","value":"' .. key .. pad .. '"}'
  return wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"}, body)
end
EOF
printf '%s\n' "$ids_lua" >"$BENCH_DIR/openfero.lua"
cat >>"$BENCH_DIR/openfero.lua" <<'EOF'
request = function()
  n = n + 1
  local pod = string.format("bench-%s-%d", prefix, n)
  local body = '{"version":"4","groupKey":"{}:{alertname=\\"BenchLoad\\"}","truncatedAlerts":0,'
    .. '"status":"firing","receiver":"openfero","groupLabels":{"alertname":"BenchLoad"},'
    .. '"commonLabels":{"alertname":"BenchLoad","namespace":"bench","severity":"warning"},'
    .. '"commonAnnotations":{"summary":"replicated write benchmark"},'
    .. '"externalURL":"http://alertmanager.bench:9093","alerts":[{"status":"firing",'
    .. '"labels":{"alertname":"BenchLoad","namespace":"bench","severity":"warning","pod":"' .. pod .. '",'
    .. '"instance":"10.0.0.1:9100","job":"node-exporter"},'
    .. '"annotations":{"summary":"replicated write benchmark","description":"a distinct alert per request, about the size of a real one"},'
    .. '"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",'
    .. '"generatorURL":"http://prometheus.bench:9090/graph?g0.expr=up%3D%3D0&g0.tab=1","fingerprint":""}]}'
  return wrk.format("POST", "/alerts", {["Content-Type"] = "application/json"}, body)
end
EOF

# wrk's latency figure ("1.23ms", "850.00us", "1.02s") in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n
  }'
}

# Webhooks (or puts) acknowledged by the wrk runs whose outputs are named in the arguments.
acked() {
  awk '/requests in/ {s += $1} /Non-2xx or 3xx responses:/ {s -= $NF} END {print s + 0}' "$@"
}

# One measured row: a tag naming its wrk outputs, the wrk script, then "url connections" pairs,
# all loaded at once.
row() {
  local tag=$1 script=$2
  shift 2
  local pairs=("$@") pids=() files=() k
  check_deadline
  for ((k = 0; k < ${#pairs[@]}; k += 2)); do
    local url=${pairs[$k]} conns=${pairs[$((k + 1))]}
    local threads=$((conns < 2 ? 1 : 2))
    # Warm-up (connections, caches), then the measured run.
    timeout $((WARMUP + 10)) wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s "$script" "$url" \
      -- "${tag//-/}w$k" >"$BENCH_DIR/$tag-warmup-$k.out" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  pids=()
  for ((k = 0; k < ${#pairs[@]}; k += 2)); do
    local url=${pairs[$k]} conns=${pairs[$((k + 1))]}
    local threads=$((conns < 2 ? 1 : 2))
    local f="$BENCH_DIR/$tag-run-$k.out"
    files+=("$f")
    timeout $((DURATION + 20)) wrk -t"$threads" -c"$conns" -d"${DURATION}s" --latency \
      -s "$script" "$url" -- "${tag//-/}r$k" >"$f" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || die "wrk failed: $(cat "${files[@]}")"
  local rps=0 p50=0 p99=0 errors=0 f
  for f in "${files[@]}"; do
    local r a b e
    r="$(awk '/^Requests\/sec:/ {print $2}' "$f")"
    a="$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")"
    b="$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")"
    e="$(awk '/Non-2xx or 3xx responses:/ {print $NF} /Socket errors:/ {
      gsub(",", ""); print $4 + $6 + $8 + $10 }' "$f" | awk '{s += $1} END {print s + 0}')"
    [[ -n "$r" ]] || die "no result from wrk: $(cat "$f")"
    rps="$(awk -v x="$rps" -v y="$r" 'BEGIN {printf "%.0f", x + y}')"
    p50="$(awk -v x="$p50" -v y="$a" 'BEGIN {print (y > x ? y : x)}')"
    p99="$(awk -v x="$p99" -v y="$b" 'BEGIN {print (y > x ? y : x)}')"
    errors=$((errors + e))
  done
  echo "$rps $p50 $p99 $errors"
}

# "url connections" pairs spreading $3 connections over the members of $1 (ips) on port $2.
spread() {
  local -n ips=$1
  local port=$2 total=$3 path=$4 k
  for k in 0 1 2; do
    local c=$((total / 3 + (k < total % 3 ? 1 : 0)))
    printf '%s %s ' "http://${ips[$k]}:$port$path" "$c"
  done
}

etcd_follower=$(((etcd_leader + 1) % 3))
of_follower=$(((of_leader + 1) % 3))
ETCD_URL="/v3/kv/put"
OF_URL="/alerts"

batches() { # "batches writes" of node $1's batcher so far
  local m b w
  m="$(curl -sf -m 2 "http://${OF_IPS[$1]}:$OF_API_PORT/metrics" || true)"
  b="$(awk '$1 == "openfero_raft_write_batches" {print $2; exit}' <<<"$m")"
  w="$(awk '$1 == "openfero_raft_batched_writes" {print $2; exit}' <<<"$m")"
  echo "${b:-0} ${w:-0}"
}

# Mean writes per batch between two `batches` outputs.
mean_batch() {
  local b0 w0 b1 w1
  read -r b0 w0 <<<"$1"
  read -r b1 w1 <<<"$2"
  awk -v b=$((b1 - b0)) -v w=$((w1 - w0)) 'BEGIN {printf "%.1f", (b > 0 ? w / b : 0)}'
}

declare -a ROWS=("1 connection to the leader" "1 connection to a follower"
  "16 connections over 3 members" "64 connections over 3 members")
results=()
OF_ACKED=0
for r in ${ONLY_ROWS:-0 1 2 3}; do
  case $r in
  0)
    e_pairs=("http://${ETCD_IPS[$etcd_leader]}:2379$ETCD_URL" 1)
    o_pairs=("http://${OF_IPS[$of_leader]}:$OF_API_PORT$OF_URL" 1)
    ;;
  1)
    e_pairs=("http://${ETCD_IPS[$etcd_follower]}:2379$ETCD_URL" 1)
    o_pairs=("http://${OF_IPS[$of_follower]}:$OF_API_PORT$OF_URL" 1)
    ;;
  *)
    conns=$((r == 2 ? 16 : 64))
    read -r -a e_pairs <<<"$(spread ETCD_IPS 2379 "$conns" "$ETCD_URL")"
    read -r -a o_pairs <<<"$(spread OF_IPS "$OF_API_PORT" "$conns" "$OF_URL")"
    ;;
  esac
  log "${ROWS[$r]}: etcd"
  e="$(row "etcd-$r" "$BENCH_DIR/etcd.lua" "${e_pairs[@]}")"
  log "${ROWS[$r]}: openfero"
  leader_before="$(batches "$of_leader")"
  follower_before="$(batches "$of_follower")"
  o="$(row "of-$r" "$BENCH_DIR/openfero.lua" "${o_pairs[@]}")"
  OF_ACKED=$((OF_ACKED + $(acked "$BENCH_DIR/of-$r"-*.out)))
  mean="$(mean_batch "$leader_before" "$(batches "$of_leader")")"
  mean+=" / $(mean_batch "$follower_before" "$(batches "$of_follower")")"
  results+=("${ROWS[$r]}|$e|$o|$mean")
done

# ---------------------------------------------------------------------------------------------
# Report.

load_avg="$(cut -d' ' -f1-3 /proc/loadavg)"
rss=""
for pid in "${OF_PIDS[@]}"; do
  rss+="${rss:+ }$(awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo "?")"
done
printf '\n%s, %s cores, load average %s before the run and %s after (the run included), openfero peer TLS %s, %ss per row\n\n' \
  "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$LOAD_BEFORE" "$load_avg" \
  "$([[ "$BENCH_PEER_TLS" == 1 ]] && echo on || echo off)" "$DURATION"
printf '| load | etcd req/s | etcd p50/p99 ms | openfero req/s | openfero p50/p99 ms | ratio | writes per entry (leader) / per forward (a follower) |\n'
printf '|---|---|---|---|---|---|---|\n'
for line in "${results[@]}"; do
  IFS='|' read -r name e o mean <<<"$line"
  read -r er e50 e99 eerr <<<"$e"
  read -r orps o50 o99 oerr <<<"$o"
  ratio="$(awk -v a="$orps" -v b="$er" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
  note=""
  ((eerr + oerr == 0)) || note=" (errors: etcd $eerr, openfero $oerr)"
  printf '| %s | %s | %s / %s | %s | %s / %s | %s | %s |%s\n' \
    "$name" "$er" "$e50" "$e99" "$orps" "$o50" "$o99" "$ratio" "$mean" "$note"
done
printf '\nopenfero RSS per node after the run: %s MiB\n' "$rss"
if ((${#STRACE_PIDS[@]})); then
  # strace writes its counts when its node exits: stop the nodes (SIGTERM, up to 15 s).
  kill -TERM "${OF_PIDS[@]}" 2>/dev/null || true
  tracing_ended() { ! kill -0 "$@" 2>/dev/null; }
  for pid in "${STRACE_PIDS[@]}"; do wait_until 15 tracing_ended "$pid" || true; done
  printf '\ndisk syncs (fsync + fdatasync) for %s acknowledged webhooks (warm-up included):\n' \
    "$OF_ACKED"
  for i in 0 1 2; do
    syncs="$(awk '$NF == "fsync" || $NF == "fdatasync" {s += $4} END {print s + 0}' \
      "$BENCH_DIR/${OF_NAMES[$i]}.strace")"
    printf '  %s%s: %s, %s per 1 000 webhooks\n' "${OF_NAMES[$i]}" \
      "$([[ $i == "$of_leader" ]] && echo " (leader)")" "$syncs" \
      "$(awk -v s="$syncs" -v n="$OF_ACKED" 'BEGIN {printf "%.0f", (n > 0 ? s * 1000 / n : 0)}')"
  done
fi

# ---------------------------------------------------------------------------------------------
# Optional: memory and disk with many alerts.

report_nodes() {
  local i
  for i in 0 1 2; do
    local pid=${OF_PIDS[$i]} held
    held="$(curl -sf -m 10 "http://${OF_IPS[$i]}:$OF_API_PORT/metrics" |
      awk '$1 == "openfero_alerts_stored" {print $2; exit}' || true)"
    printf '  %s: RSS %s MiB, %s alerts held, data dir %s MiB\n' "${OF_NAMES[$i]}" \
      "$(awk '/^VmRSS:/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status" || echo "?")" \
      "${held:-?}" "$(du -sm "$BENCH_DIR/${OF_NAMES[$i]}" | cut -f1 || echo "?")"
  done
}

if [[ -n "${FILL_AT:-}" ]]; then
  read -r -a fill_pairs <<<"$(spread OF_IPS "$OF_API_PORT" 64 "$OF_URL")"
  sent=0
  fills=0
  for target in $FILL_AT; do
    while ((sent < target)); do
      check_deadline
      fills=$((fills + 1))
      pids=()
      files=()
      for ((k = 0; k < ${#fill_pairs[@]}; k += 2)); do
        f="$BENCH_DIR/fill-$k.out"
        files+=("$f")
        timeout 40 wrk -t2 -c"${fill_pairs[$((k + 1))]}" -d20s -s "$BENCH_DIR/openfero.lua" \
          "${fill_pairs[$k]}" -- "f${fills}x$k" >"$f" 2>&1 &
        pids+=($!)
      done
      wait "${pids[@]}" || die "wrk failed while filling"
      n="$(acked "${files[@]}")"
      sent=$((sent + n))
    done
    printf '\nafter %s webhooks acknowledged in this phase (%s, load average %s):\n' \
      "$sent" "$(date -u +%H:%MZ)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    report_nodes
  done
fi
