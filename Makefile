# Streamer: every target loops over the workspace modules. `make help` lists them.
SHELL := /bin/bash
MODULES := runtime constructs cmd cdk test
STATICCHECK_VERSION := v0.8.2
GO ?= go
export GOFLAGS ?= -buildvcs=false

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

dev: ## Run the whole system locally (the local stack, in-memory store)
	@echo "make dev arrives with the local stack"

test: ## Run every module's tests with -race, against a DynamoDB Local started for the run (Java 17+)
	@STREAMER_REQUIRE_DYNAMODB=1 scripts/dynamodb-local.sh run -- bash -c 'set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 ./...); done'

lint: ## gofmt, go vet and staticcheck on every module
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...); done

bench: ## Run the Go benchmarks (benchstat-friendly output)
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -benchmem -count 1 ./...); done

.PHONY: help dev test lint bench
