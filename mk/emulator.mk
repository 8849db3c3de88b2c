# Key Vault + Entra ID emulator (kvemulator/, cmd/kvemulator/). See docs/emulator.md.
EMULATOR_FLAGS ?= --seed kvemulator/testdata/seed.yaml --tls-dir _output/kvemulator/tls

.PHONY: emulator
emulator: ## build bin/kvemulator
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kvemulator ./cmd/kvemulator

.PHONY: run-emulator
run-emulator: emulator ## run the emulator with the example seed (EMULATOR_FLAGS to change)
	$(BIN)/kvemulator $(EMULATOR_FLAGS)

.PHONY: test-emulator
test-emulator: ## emulator unit and conformance tests (real azsecrets/azkeys/azcertificates/azidentity clients)
	$(GO) test -count=1 ./kvemulator/... ./cmd/kvemulator/...

.PHONY: fuzz-emulator
fuzz-emulator: ## fuzz request decoding, the data-plane pipeline and the admin guard (FUZZTIME each, default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSetSecret$$' -fuzztime $(or $(FUZZTIME),60s) ./kvemulator/internal/dataplane
	$(GO) test -run '^$$' -fuzz '^FuzzDataPlaneRequest$$' -fuzztime $(or $(FUZZTIME),60s) ./kvemulator
	$(GO) test -run '^$$' -fuzz '^FuzzGuard$$' -fuzztime $(or $(FUZZTIME),60s) ./kvemulator/internal/admin

.PHONY: bench-emulator
bench-emulator: ## GET-secret over TLS keep-alive vs a bare Go TLS server (numbers go to BENCHMARKS.md)
	$(GO) test -run '^$$' -bench 'GetSecret' -benchtime 3s ./kvemulator
