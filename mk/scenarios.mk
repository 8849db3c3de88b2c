# Scenarios: the executable spec. `make run` is the README's main
# command; `make e2e` runs the same catalogue as e2e-framework features.
REPORT ?= _output/report.md
RUN ?=
E2E_TIMEOUT ?= 60m

.PHONY: run e2e kind-up kind-down scenarios-docs test-scenarios
run: k8s-bins ## build what is missing, start the local cluster + emulator, run every scenario, print the table, write $(REPORT) (root)
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/kvcsi scenarios run --target local --report '$(REPORT)' $(if $(RUN),--run '$(RUN)')

kind-up: ## create the kind cluster from kind-config.yaml
	$(KIND) create cluster --name '$(KIND_CLUSTER_NAME)' --config kind-config.yaml --wait 2m

kind-down: ## delete the kind cluster
	$(KIND) delete cluster --name '$(KIND_CLUSTER_NAME)'

# make e2e: a kind cluster from kind-config.yaml (created, images loaded, deleted
# afterwards). make e2e KUBECONFIG=<file>: that cluster, whose nodes must
# already have kvcsi's images.
# Only a KUBECONFIG given on the make command line selects an existing cluster;
# one exported in the environment does not.
ifeq ($(origin KUBECONFIG),command line)
E2E_CLUSTER_ARGS = --kubeconfig='$(KUBECONFIG)'
else
E2E_CLUSTER_ARGS = --kind-cluster='$(KIND_CLUSTER_NAME)' --kind-config='$(CURDIR)/kind-config.yaml'
endif
e2e: ## the catalogue as e2e-framework features on kind (or on KUBECONFIG=… if given on the command line)
	env -u KUBECONFIG $(GO) test -count=1 -timeout $(E2E_TIMEOUT) -ldflags '$(LDFLAGS)' ./e2e/ -args $(E2E_CLUSTER_ARGS) $(if $(RUN),--feature='$(RUN)')

scenarios-docs: ## regenerate the catalogue table of docs/scenarios.md
	$(GO) test ./scenarios/ -run '^TestDocsCatalogueIsCurrent$$' -count=1 -update

test-scenarios: ## scenario unit tests, then the catalogue and the broken-behaviour checks on the local cluster (root)
	$(GO) test -count=1 -timeout 60m ./scenarios/... ./e2e/... ./cmd/kvcsi/...
