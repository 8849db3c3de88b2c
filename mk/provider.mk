# Azure Key Vault provider: provider/, cmd/secrets-store-provider-azure.

.PHONY: provider
provider: ## build bin/secrets-store-provider-azure
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/secrets-store-provider-azure

.PHONY: test-provider
test-provider: ## provider unit tests and its integration tests against the in-process emulator
	$(GO) test -count=1 ./provider/... ./cmd/secrets-store-provider-azure/...

.PHONY: fuzz-provider
fuzz-provider: ## fuzz the objects parameter parser (FUZZTIME, default 60s)
	$(GO) test ./provider/params -run '^$$' -fuzz FuzzParseObjects -fuzztime $(or $(FUZZTIME),60s)

.PHONY: bench-provider
bench-provider: ## concurrent Mounts against the emulator, cache/singleflight on and off
	$(GO) test ./provider/server -run '^$$' -bench BenchmarkConcurrentMounts -benchtime 10x

.PHONY: golden-provider
golden-provider: ## rewrite the golden files (rendering, whole MountResponse)
	$(GO) test ./provider/render -run TestGolden -update
	$(GO) test ./provider/server -run TestMountGolden -update
