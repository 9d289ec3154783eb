#!/usr/bin/env bash
# Prints the path of the previous release's `openfero` binary, building it first if it is not
# cached: the release named in chaos/previous-release ("<tag> <commit>"), its source taken
# from git (the tag if this clone has it, else the commit), built once per commit into
# $OPENFERO_RELEASES (default /var/tmp/openfero-releases/<commit>/). The chaos campaign's
# rolling-upgrade fault runs it next to the build under test.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r tag commit < chaos/previous-release
root="${OPENFERO_RELEASES:-/var/tmp/openfero-releases}/$commit"
bin="$root/openfero"
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi
rev="$commit"
if git rev-parse -q --verify "refs/tags/$tag^{commit}" >/dev/null; then
  [[ "$(git rev-parse "refs/tags/$tag^{commit}")" == "$commit" ]] || {
    echo "previous-release: tag $tag is not commit $commit" >&2
    exit 1
  }
  rev="$tag"
fi
git cat-file -e "$commit^{commit}" 2>/dev/null || {
  echo "previous-release: commit $commit ($tag) is not in this clone (shallow?)" >&2
  exit 1
}
mkdir -p "$root"
rm -rf "$root/src.tmp"
mkdir "$root/src.tmp"
git archive "$rev" | tar -x -C "$root/src.tmp"
echo "previous-release: building openfero $tag ($commit) in $root" >&2
CARGO_TARGET_DIR="$root/target" cargo build --quiet --locked --bin openfero \
  --manifest-path "$root/src.tmp/Cargo.toml" >&2
cp "$root/target/debug/openfero" "$bin.tmp"
mv "$bin.tmp" "$bin"
# The source and the build are not needed once the binary is kept.
rm -rf "$root/src.tmp" "$root/target"
echo "$bin"
