# Key Vault emulator keys and certificates (kvemulator/kvcrypto, kvemulator/internal/dataplane/
# keys*.go and certificates.go). See docs/emulator-crypto.md. Their tests run in test-emulator.

.PHONY: fuzz-emulator-crypto
fuzz-emulator-crypto: ## fuzz certificate import, subject parsing and JWK import (FUZZTIME each, default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzImportCertificate$$' -fuzztime $(or $(FUZZTIME),60s) ./kvemulator/kvcrypto
	$(GO) test -run '^$$' -fuzz '^FuzzParseSubject$$' -fuzztime $(or $(FUZZTIME),60s) ./kvemulator/kvcrypto
	$(GO) test -run '^$$' -fuzz '^FuzzImportJWK$$' -fuzztime $(or $(FUZZTIME),60s) ./kvemulator/kvcrypto

.PHONY: bench-emulator-crypto
bench-emulator-crypto: ## key generation, signing, certificate issuance, and Sign/GetCertificate over HTTPS (numbers go to BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./kvemulator/kvcrypto
	$(GO) test -run '^$$' -bench 'OverHTTPS' -benchtime 2s ./kvemulator
