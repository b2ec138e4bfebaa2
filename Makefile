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
CARBONLEDGER_ADDR ?= 127.0.0.1:8080
export CARBONLEDGER_ADDR

.PHONY: help build run test test-e2e test-short contract generate bench load lint fuzz db-stop clean clean-data

help: ## List targets (default)
	@echo "usage: make TARGET [VAR=value ...]"
	echo
	grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) |
		awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'
	echo
	echo "variables: WORKLOAD=$(WORKLOAD) CLIENTS=$(CLIENTS) DURATION=$(DURATION)"
	echo "           BENCHTIME=$(BENCHTIME) FUZZTIME=$(FUZZTIME) CARBONLEDGER_ADDR=$(CARBONLEDGER_ADDR)"

build: ## Build bin/carbonledger
	go build -o $(BIN) ./cmd/carbonledger

run: build ## Start local PostgreSQL, migrate, seed, serve on CARBONLEDGER_ADDR
	# A bare assignment (not `export X=$$(...)`) so a failing script stops us.
	DATABASE_URL=$$(scripts/localpg.sh run)
	export DATABASE_URL
	$(BIN) migrate
	$(BIN) seed # prints tokens and example curl calls
	exec $(BIN) serve --dev # --dev: a development signing key in .data; production sets CARBONLEDGER_SIGNING_KEY

test: ## Run all tests with -race against a real PostgreSQL, the contract checks, then the console's browser journeys
	DATABASE_URL=$$(scripts/localpg.sh test)
	export DATABASE_URL CARBONLEDGER_TEST_DATABASE_URL="$$DATABASE_URL"
	go test -race -count=1 ./...
	scripts/contract/check.sh
	console/e2e/run.sh

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
