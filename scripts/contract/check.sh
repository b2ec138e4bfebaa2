#!/usr/bin/env bash
# Contract checks of the committed document api/openapi.json, run by
# `make test` (and so by CI) after the Go tests (which fail when the
# committed document differs from what the server builds):
#   1. the Go client in api/client is what oapi-codegen generates from it;
#   2. @redocly/cli lint passes (recommended rules, redocly.yaml);
#   3. the TypeScript types are what openapi-typescript generates from it;
#   4. tsc --strict compiles journey.ts against those types.
# `scripts/contract/check.sh --update` regenerates 1 and 3 instead of
# comparing them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
update=0
[[ "${1:-}" == "--update" ]] && update=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fresh() { # fresh GENERATED COMMITTED: compare, or copy with --update
	if [[ $update -eq 1 ]]; then
		cp "$1" "$2"
		echo "contract: regenerated ${2#"$root"/}"
	elif ! diff -q "$1" "$2" >/dev/null; then
		echo "contract: ${2#"$root"/} is stale: run scripts/contract/check.sh --update (or make generate) and commit" >&2
		diff -u "$2" "$1" | head -40 >&2 || true
		exit 1
	else
		echo "contract: ${2#"$root"/} is up to date"
	fi
}

cd "$root"
echo "contract: go client (oapi-codegen)"
go tool oapi-codegen -config api/client/oapi-codegen.yaml -o "$tmp/client.gen.go" api/openapi.json
fresh "$tmp/client.gen.go" api/client/client.gen.go

cd "$here"
# npm ci when the installed tree is missing or older than the lockfile.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	echo "contract: npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi
echo "contract: redocly lint"
# Warnings fail too: a rule this project accepts otherwise is turned off in
# redocly.yaml or listed in .redocly.lint-ignore.yaml, with its reason.
lint_out="$tmp/redocly.txt"
if ! npx --no-install redocly lint --config redocly.yaml --format stylish ../../api/openapi.json >"$lint_out" 2>&1; then
	cat "$lint_out" >&2
	exit 1
fi
if grep -qE '^ +[0-9]+:[0-9]+ +(warning|error) ' "$lint_out"; then
	grep -E '^ +[0-9]+:[0-9]+ +(warning|error) ' "$lint_out" >&2
	echo "contract: redocly lint reported warnings" >&2
	exit 1
fi
grep -E 'valid|problems' "$lint_out" | sed 's/^/contract: redocly: /'
echo "contract: openapi-typescript"
# (It lints on its own too, without the ignore file: its output is shown on failure only.)
if ! npx --no-install openapi-typescript ../../api/openapi.json -o "$tmp/carbonledger.d.ts" >"$tmp/ots.txt" 2>&1; then
	cat "$tmp/ots.txt" >&2
	exit 1
fi
fresh "$tmp/carbonledger.d.ts" "$here/carbonledger.d.ts"
echo "contract: tsc --strict journey.ts"
npx --no-install tsc -p tsconfig.json
echo "contract: ok"
