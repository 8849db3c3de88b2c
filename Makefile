# kvcsi — top-level Makefile. Each area adds its own targets in mk/<area>.mk;
# areas append to TEST_DEPS what `make test` needs built first.
SHELL := /bin/bash
GO ?= go
# The one version of kvcsi: charts/kvcsi/Chart.yaml appVersion. Binaries, image tags, the
# plain manifests and `kvcsi addon`'s default --image-tag all use it (deploy: TestOneVersion).
VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' charts/kvcsi/Chart.yaml)
LDFLAGS := -X github.com/kvcsi/kvcsi/internal/buildinfo.Version=$(VERSION)
BIN := $(CURDIR)/bin
export PATH := $(HOME)/go/bin:$(PATH)
# The kind cluster `make e2e`, kind-up/kind-down and images-kind-load use:
# defined here once, before any mk/*.mk.
KIND ?= kind
KIND_CLUSTER_NAME ?= kvcsi

# `make` alone lists the targets.
.DEFAULT_GOAL := help

.PHONY: all
all: build ## build every binary (as make build)

TEST_DEPS :=
-include mk/*.mk

.PHONY: build
build: ## build every binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

.PHONY: test
test: $(TEST_DEPS) ## run every test (root runs the mount and local-cluster tests too)
	$(GO) test -count=1 -timeout 60m ./...

# The faults/ mutation tests: each breaks one guarantee on purpose (a KVCSI_BREAK_* hook) and
# shows its scenario fails; expensive, so `make test` skips them (KVCSI_MUTATION unset).
.PHONY: test-mutation
test-mutation: $(TEST_DEPS) ## the faults/ mutation tests on the local cluster: each scenario must fail with its guarantee broken (root, minutes)
	KVCSI_MUTATION=1 $(GO) test -count=1 -timeout 60m -run 'Mutation|FailWith' ./scenarios/target/local/

.PHONY: vet
vet: ## go vet on every package (make lint runs it too)
	$(GO) vet ./...

.PHONY: bench
bench: ## run the benchmarks; numbers go to BENCHMARKS.md by hand
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: proto
proto: ## regenerate the provider protocol code (needs protoc)
	command -v protoc >/dev/null || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)
	GOBIN=$(HOME)/go/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	GOBIN=$(HOME)/go/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	protoc --proto_path=api/provider/v1alpha1 --go_out=paths=source_relative:api/provider/v1alpha1 \
	  --go-grpc_out=paths=source_relative:api/provider/v1alpha1 api/provider/v1alpha1/service.proto

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort
