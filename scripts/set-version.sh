#!/usr/bin/env bash
# Sets the version this repository's modules require of each other (the next release):
# the requirements in every go.mod, the replace lines of go.work that map it to this tree,
# and the version the release tests publish the tree at. See docs/RELEASING.md.
#
#   scripts/set-version.sh v0.3.0
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
new="${1:-}"
[[ "$new" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "usage: $0 vX.Y.Z" >&2; exit 2; }
mod='github\.com/streamer-go/streamer/\(runtime\|constructs\|cmd\)'
for f in "$ROOT"/go.work "$ROOT"/*/go.mod; do
	sed -i "s#\($mod\) v[0-9][0-9.]*#\1 $new#g" "$f"
done
sed -i "s#^const Version = \"v[0-9.]*\"#const Version = \"$new\"#" "$ROOT/test/release/doc.go"
echo "modules now require each other at $new; run: make test"
