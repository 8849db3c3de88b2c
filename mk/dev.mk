# Developer loop: lint and the unit tests, both without root, a cluster or apt.
# staticcheck is pinned in its own tool module (hack/tools/go.mod), so the
# main module's dependencies stay those of the code; `go tool` fetches it
# from the module proxy on first use and caches it.
STATICCHECK := $(GO) tool -modfile=$(CURDIR)/hack/tools/go.mod staticcheck

# Packages whose tests are integration by nature (a cluster, mounts, csi-sanity,
# simulated nodes) stay out of test-unit; elsewhere -short skips the tests that
# start a control plane or a cluster (localcluster, localclustertest) or need
# root, saying so.
UNIT_EXCLUDE := /e2e$$|/sanity$$|/scenarios/target/local$$|/driver/integration$$|/sim$$

.PHONY: lint fmt test-unit
lint: ## gofmt (lists unformatted files), go vet and staticcheck on every package
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: not formatted (run make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

fmt: ## gofmt -w every Go file
	gofmt -w $$(git ls-files '*.go')

test-unit: ## the unit tests: no root, cluster, control plane or apt needed (go test -short, integration packages left out)
	$(GO) test -short -count=1 -timeout 20m $$($(GO) list ./... | grep -Ev '$(UNIT_EXCLUDE)')
