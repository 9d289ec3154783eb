#!/usr/bin/env bash
# Chaos checks against a real Kubernetes cluster: delete openfero pods while sending
# Alertmanager-style webhooks through the Service, then check the invariants with the same
# checker as the local campaign (`openfero-chaos --check-evidence`). Untested here (no cluster
# on the build machines): see chaos/k8s/README.md.
#
# Needs: kubectl (context pointing at the cluster), curl, jq, and the openfero-chaos binary.
# Env: NS (openfero's namespace, default openfero), SELECTOR (pods, default
# app.kubernetes.io/name=openfero), SERVICE (default openfero), OPS_NS (operarius and Job
# namespace, default: NS), CYCLES (10), PER_CYCLE (10), SEED (42), OUT (./chaos-k8s-report),
# CHAOS_BIN (openfero-chaos).
set -euo pipefail

NS="${NS:-openfero}"
SELECTOR="${SELECTOR:-app.kubernetes.io/name=openfero}"
SERVICE="${SERVICE:-openfero}"
OPS_NS="${OPS_NS:-$NS}"
CYCLES="${CYCLES:-10}"
PER_CYCLE="${PER_CYCLE:-10}"
SEED="${SEED:-42}"
OUT="${OUT:-./chaos-k8s-report}"
CHAOS_BIN="${CHAOS_BIN:-openfero-chaos}"
ALERTNAME=ChaosCrashLooping

mkdir -p "$OUT"
acked="$OUT/acked.jsonl"
: > "$acked"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  kubectl -n "$OPS_NS" delete operarius chaos-fix --ignore-not-found >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# A port-forward in the background; echoes the local port.
forward() {
  local target=$1 port
  port=$(( 20000 + RANDOM % 20000 ))
  kubectl -n "$NS" port-forward "$target" "$port:8080" >/dev/null 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  echo "$port"
}

kubectl apply -f - <<YAML
apiVersion: openfero.io/v1alpha1
kind: Operarius
metadata: {name: chaos-fix, namespace: $OPS_NS}
spec:
  alertSelector: {alertname: $ALERTNAME, status: firing}
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - {name: fix, image: busybox, command: ["sh", "-c", "echo fixing {{ .Labels.pod }}"]}
YAML

svc_port=$(forward "svc/$SERVICE")
RANDOM=$SEED

# POST one notification until acknowledged (503 or no answer: retry, as Alertmanager does).
send() {
  local cycle=$1 k=$2 status=$3 tag body answer code
  tag=$(printf 'cyc%04dx' "$cycle")
  body=$(jq -nc --arg a "$ALERTNAME" --arg s "$status" --arg p "web-$cycle-$k" --arg t "$tag" \
    --arg at "2026-11-26T00:$(printf %02d $((cycle % 60))):00Z" \
    '{version:"4", groupKey:"chaos", status:$s, receiver:"openfero",
      alerts:[{status:$s, labels:{alertname:$a, pod:$p, namespace:"shop", chaos:$t},
               annotations:{summary:"chaos"}, startsAt:$at}]}')
  for _ in $(seq 30); do
    answer=$(curl -sS -m 10 -o - -w '\n%{http_code}' -H 'content-type: application/json' \
      -d "$body" "http://127.0.0.1:$svc_port/alerts" 2>/dev/null || true)
    code=$(tail -n1 <<<"$answer")
    if [[ "$code" == 200 ]]; then
      head -n -1 <<<"$answer" | jq -c --argjson c "$cycle" --arg t "$tag" --arg n "web-$cycle-$k-$status" \
        '.alerts[] | {cycle:$c, tag:$t, notification:$n, eventId, status,
          remediationIds:[.remediations[]?.id], node:"service", unixMs:0}' >> "$acked"
      return 0
    fi
    sleep 1
  done
  echo "never acknowledged: web-$cycle-$k-$status" >&2
}

for cycle in $(seq "$CYCLES"); do
  for k in $(seq "$PER_CYCLE"); do
    send "$cycle" "$k" firing &
    (( RANDOM % 3 == 0 )) && send "$cycle" "$k" firing &       # duplicate delivery
    (( RANDOM % 3 == 0 )) && send "$cycle" "$k" resolved &
  done
  mapfile -t pods < <(kubectl -n "$NS" get pods -l "$SELECTOR" -o name)
  victim=${pods[$(( RANDOM % ${#pods[@]} ))]}
  say "cycle $cycle: deleting $victim"
  kubectl -n "$NS" delete "$victim" --wait=false
  wait
  kubectl -n "$NS" wait --for=condition=Ready pod -l "$SELECTOR" --timeout=300s
  # The Service port-forward dies with its pod: start a new one.
  svc_port=$(forward "svc/$SERVICE")
done

say "settling"
sleep 30

# Evidence: every pod's history of each cycle's tag and its remediations, the Jobs, log lines.
histories='{}'
remediations='{}'
findings='[]'
scope=$(jq -sc '[.[].tag] | unique' "$acked")
for pod in $(kubectl -n "$NS" get pods -l "$SELECTOR" -o name); do
  name=${pod#pod/}
  port=$(forward "$pod")
  ids='[]'
  for t in $(jq -r '.[]' <<<"$scope"); do
    ids=$(jq -c --argjson a "$ids" '$a + [.[].eventId]' \
      <(curl -fsS "http://127.0.0.1:$port/api/alerts?limit=1000&q=$t"))
  done
  histories=$(jq -c --arg n "$name" --argjson ids "$ids" '. + {($n): $ids}' <<<"$histories")
  rems=$(curl -fsS "http://127.0.0.1:$port/api/remediations?limit=1000" |
    jq -c '[.[] | {id, eventId, operarius, state}]')
  remediations=$(jq -c --arg n "$name" --argjson r "$rems" '. + {($n): $r}' <<<"$remediations")
  findings=$(kubectl -n "$NS" logs "$pod" --all-containers | grep -iE 'panicked at| fatal' |
    jq -Rsc --arg n "$name" --argjson f "$findings" \
      '$f + [split("\n")[] | select(length > 0) | {node:$n, file:"kubectl logs", line:.}]')
done
jobs=$(kubectl -n "$OPS_NS" get jobs -l openfero.io/managed-by=openfero -o json | jq -c \
  '[.items[] | {name:.metadata.name,
     remediationId:(.metadata.annotations["openfero.io/remediation-id"] // ""),
     leader:(.metadata.annotations["openfero.io/leader"] // ""),
     complete:([.status.conditions[]?.type] | any(. == "Complete" or . == "Failed"))}]')
jq -n --slurpfile acked "$acked" --argjson scope "$scope" --argjson h "$histories" \
  --argjson r "$remediations" --argjson j "$jobs" --argjson f "$findings" \
  '{acked:$acked, historyScope:$scope, histories:$h, remediations:$r, jobs:$j, logFindings:$f}' \
  > "$OUT/evidence.json"
say "evidence in $OUT/evidence.json"
"$CHAOS_BIN" --check-evidence "$OUT/evidence.json" | tee "$OUT/report.txt"
