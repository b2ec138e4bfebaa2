#!/usr/bin/env bash
# Copies the console's one third-party library, uPlot (MIT), from the npm
# packages the e2e lockfile pins (console/e2e/package-lock.json) into
# console/static/vendor/uplot, with its licence. The copy is committed so
# `make run` needs no npm; `vendor.sh --check` (run by the e2e tests) fails
# when the committed copy differs from the locked version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/e2e/node_modules/uplot
dst=$here/static/vendor/uplot
[[ -d $src ]] || { echo "vendor.sh: run 'npm ci' in console/e2e first" >&2; exit 1; }
files=(dist/uPlot.esm.js dist/uPlot.min.css LICENSE package.json)
if [[ ${1:-} == --check ]]; then
	for f in "${files[@]}"; do
		cmp -s "$src/$f" "$dst/$(basename "$f")" || { echo "vendor.sh: $dst/$(basename "$f") differs from the locked uplot; run console/vendor.sh" >&2; exit 1; }
	done
	exit 0
fi
mkdir -p "$dst"
for f in "${files[@]}"; do cp "$src/$f" "$dst/$(basename "$f")"; done
echo "vendored uplot $(node -p "require('$src/package.json').version") into $dst"
