# carbonledger developer tasks. `make` (or `make help`) lists them.
#
# Tasks that need PostgreSQL get a DATABASE_URL from scripts/localpg.sh:
# `run`/`load` use a private cluster in .data/, `test`/`bench` use the
# server on 127.0.0.1:5432 when it trusts user postgres, else that cluster.
# A DATABASE_URL already in the environment wins.

# bash with errexit/nounset/pipefail, and each recipe as ONE shell script
# (.ONESHELL): a failing line stops the recipe, and shell variables such as
# DATABASE_URL carry from one line to the next.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

BIN := bin/carbonledger

# Knobs; override on the command line, e.g. `make load CLIENTS=64`.
WORKLOAD ?= uniform
CLIENTS ?= 32
DURATION ?= 20s
BENCHFLAGS ?=
BENCHTIME ?= 2s
FUZZTIME ?= 20s
# FAILOVER=0 leaves the failover drill (test-failover) out of `make test`.
FAILOVER ?= 1
CARBONLEDGER_ADDR ?= 127.0.0.1:8080
export CARBONLEDGER_ADDR

.PHONY: help build run test test-e2e test-failover test-crdb test-short contract generate bench load lint fuzz db-stop clean clean-data

help: ## List targets (default)
	@echo "usage: make TARGET [VAR=value ...]"
	echo
	grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) |
		awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'
	echo
	echo "variables: WORKLOAD=$(WORKLOAD) CLIENTS=$(CLIENTS) DURATION=$(DURATION)"
	echo "           BENCHTIME=$(BENCHTIME) FUZZTIME=$(FUZZTIME) CARBONLEDGER_ADDR=$(CARBONLEDGER_ADDR)"
	echo "           FAILOVER=$(FAILOVER) (0: make test leaves out test-failover)"

build: ## Build bin/carbonledger
	go build -o $(BIN) ./cmd/carbonledger

run: build ## Start local PostgreSQL, migrate, seed, serve on CARBONLEDGER_ADDR
	# A bare assignment (not `export X=$$(...)`) so a failing script stops us.
	DATABASE_URL=$$(scripts/localpg.sh run)
	export DATABASE_URL
	$(BIN) migrate
	$(BIN) seed # prints tokens and example curl calls
	exec $(BIN) serve --dev # --dev: a development signing key in .data; production sets CARBONLEDGER_SIGNING_KEY

test: ## Run all tests with -race against a real PostgreSQL, the contract checks, the console's browser journeys, then test-failover (FAILOVER=0: not)
	DATABASE_URL=$$(scripts/localpg.sh test)
	export DATABASE_URL CARBONLEDGER_TEST_DATABASE_URL="$$DATABASE_URL"
	go test -race -count=1 ./...
	scripts/contract/check.sh
	console/e2e/run.sh
	if [[ "$(FAILOVER)" == 1 ]]; then
		$(MAKE) --no-print-directory test-failover
	else
		echo "test: failover drill skipped (FAILOVER=0)"
	fi

test-failover: ## Kill -9 a primary under write load, promote its synchronous standby (scripts/pgpair.sh); prints FAILOVER figures
	@# Its own pair of servers on free ports in a temporary directory: no DATABASE_URL.
	CARBONLEDGER_FAILOVER_TEST=1 go test -race -count=1 -v -run '^TestFailover$$' ./api

test-crdb: ## Run the ledger and api tests against CockroachDB at CARBONLEDGER_CRDB_URL
	@# (@ on the first line: the whole script runs quietly; steps say what they do.)
	if [[ -z "$${CARBONLEDGER_CRDB_URL:-}" ]]; then
		echo "test-crdb: set CARBONLEDGER_CRDB_URL to a CockroachDB URL whose user may create databases," >&2
		echo "  e.g. postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable (cockroach start-single-node --insecure)." >&2
		echo "  Nothing is installed or started here." >&2
		exit 2
	fi
	# A PostgreSQL URL here would pass for the wrong reason.
	if command -v psql >/dev/null; then
		version=$$(psql -X -Atc 'select version()' "$$CARBONLEDGER_CRDB_URL") || {
			echo "test-crdb: cannot connect to CARBONLEDGER_CRDB_URL" >&2; exit 1; }
		if [[ "$$version" != CockroachDB* ]]; then
			echo "test-crdb: CARBONLEDGER_CRDB_URL is not CockroachDB ($$version)" >&2
			exit 1
		fi
		echo "test-crdb: $$version"
	else
		echo "test-crdb: note: no psql to check that CARBONLEDGER_CRDB_URL is CockroachDB" >&2
	fi
	export CARBONLEDGER_TEST_DATABASE_URL="$$CARBONLEDGER_CRDB_URL" DATABASE_URL="$$CARBONLEDGER_CRDB_URL"
	echo "test-crdb: go test -race -count=1 ./ledger/... ./api/... against $${CARBONLEDGER_CRDB_URL%%@*}@…"
	go test -race -count=1 ./ledger/... ./api/...

test-e2e: ## Run the console's journeys in headless Chromium (screenshots in console/e2e/artifacts/)
	DATABASE_URL=$$(scripts/localpg.sh test)
	export DATABASE_URL
	console/e2e/run.sh

contract: ## Check api/openapi.json: Go client fresh, Redocly lint, TS types fresh, tsc --strict
	scripts/contract/check.sh

generate: ## Regenerate api/openapi.json, the Go client and the TypeScript types
	go test -count=1 ./api -run '^TestOpenAPIFile$$' -update
	scripts/contract/check.sh --update

test-short: ## Run the tests that need no database (go test -short)
	go test -short ./...

bench: ## Run ledger benchmarks against the test database (BENCHTIME)
	DATABASE_URL=$$(scripts/localpg.sh test)
	export DATABASE_URL CARBONLEDGER_TEST_DATABASE_URL="$$DATABASE_URL"
	go test -run '^$$' -bench . -benchmem -benchtime=$(BENCHTIME) ./ledger/...

load: build ## Load-test a local server (WORKLOAD, CLIENTS, DURATION)
	@# (@ on the first line: the whole script runs quietly; steps say what they do.)
	DATABASE_URL=$$(scripts/localpg.sh run)
	export DATABASE_URL
	$(BIN) migrate
	$(BIN) seed >/dev/null
	host=$${CARBONLEDGER_ADDR%:*} port=$${CARBONLEDGER_ADDR##*:}
	listening() { (exec 3<>"/dev/tcp/$$host/$$port") 2>/dev/null; }
	# Refuse to measure some other process that already holds the port.
	if listening; then
		echo "load: $$CARBONLEDGER_ADDR is already in use; stop that server or set CARBONLEDGER_ADDR" >&2
		exit 1
	fi
	echo "load: starting $(BIN) serve on $$CARBONLEDGER_ADDR (log: bin/load-server.log)"
	# Access logs at info cost CPU the load generator shares; warn by default.
	CARBONLEDGER_LOG_LEVEL=$${CARBONLEDGER_LOG_LEVEL:-warn} $(BIN) serve --dev >bin/load-server.log 2>&1 &
	server=$$!
	# Stop the server however we leave (success, failure or Ctrl-C).
	trap 'kill $$server 2>/dev/null || true; wait $$server 2>/dev/null || true' EXIT
	for _ in $$(seq 100); do
		listening && break
		if ! kill -0 $$server 2>/dev/null; then
			echo "load: server exited early; bin/load-server.log:" >&2
			tail -n 30 bin/load-server.log >&2
			exit 1
		fi
		sleep 0.1
	done
	listening || { echo "load: server not listening on $$CARBONLEDGER_ADDR after 10s" >&2; exit 1; }
	echo "load: $(BIN) bench -workload $(WORKLOAD) -clients $(CLIENTS) -duration $(DURATION) $(BENCHFLAGS)"
	$(BIN) bench -workload $(WORKLOAD) -clients $(CLIENTS) -duration $(DURATION) $(BENCHFLAGS)

lint: ## gofmt (must list nothing), go vet, staticcheck if installed
	@# (@ on the first line: the whole script runs quietly; steps say what they do.)
	# find, not `gofmt -l .`: skip .data (the PostgreSQL data dir) and bin.
	echo "gofmt -l"
	unformatted=$$(find . \( -path ./.data -o -path ./bin -o -path ./.git \) -prune \
		-o -name '*.go' -print0 | xargs -0 -r gofmt -l)
	if [[ -n "$$unformatted" ]]; then
		echo "gofmt: these files need formatting (run gofmt -w):" >&2
		echo "$$unformatted" >&2
		exit 1
	fi
	echo "go vet ./..."
	go vet ./...
	if command -v staticcheck >/dev/null; then
		echo "staticcheck ./..."
		staticcheck ./...
	else
		echo "note: staticcheck not on PATH; skipped"
	fi

fuzz: ## Run each fuzz target for FUZZTIME (one target per go test run)
	go test -run '^$$' -fuzz '^FuzzParseAmount$$' -fuzztime $(FUZZTIME) ./ledger
	go test -run '^$$' -fuzz '^FuzzNewTransaction$$' -fuzztime $(FUZZTIME) ./ledger

db-stop: ## Stop the private PostgreSQL cluster in .data/
	scripts/localpg.sh stop

clean: ## Remove build output (bin/); keeps .data/
	rm -rf bin

clean-data: db-stop ## Stop the private cluster and delete .data/
	rm -rf .data
