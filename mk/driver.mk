# Secrets Store CSI driver: node plugin, CRDs, csi-sanity.
DRIVER_PKGS := ./api/secretsstore/... ./driver/... ./cmd/secrets-store-csi-driver/... ./sanity/...

.PHONY: driver test-driver sanity bench-driver build-driver-windows
driver: ## build bin/secrets-store-csi-driver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/secrets-store-csi-driver

test-driver: ## driver unit tests, mount tests (real tmpfs as root) and csi-sanity
	$(GO) test -count=1 $(DRIVER_PKGS)

sanity: ## csi-sanity v5.6.0 against the node plugin over a real unix socket
	$(GO) test -count=1 -v ./sanity/

bench-driver: ## NodePublishVolume latency, RSS with 1,000 mounts, atomic write (numbers go to BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./driver/...

build-driver-windows: ## check that the driver builds for Windows
	GOOS=windows CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/secrets-store-csi-driver

.PHONY: fuzz-driver
fuzz-driver: ## fuzz the atomic writer (path validation, planted ..data links) and the reserved-key filter (FUZZTIME each, default 60s)
	$(GO) test -run '^$$' -fuzz FuzzValidatePath -fuzztime $(or $(FUZZTIME),60s) ./driver/atomicwriter
	$(GO) test -run '^$$' -fuzz FuzzPlantedDataLink -fuzztime $(or $(FUZZTIME),60s) ./driver/atomicwriter
	$(GO) test -run '^$$' -fuzz FuzzProviderAttributes -fuzztime $(or $(FUZZTIME),60s) ./driver
