# sim: the scale target — simulated nodes, each a real driver and
# provider, against the real control plane and the Key Vault emulator.
# `make sim` runs SIM_WORKLOAD with SIM_FLAGS and writes _output/sim/<workload>/report.md.
SIM_WORKLOAD ?= mount-storm
SIM_FLAGS ?=
.PHONY: sim sim-list test-sim
sim: deps k8s-bins ## run a sim workload (root; SIM_WORKLOAD=mount-storm|rotation|churn|identities, SIM_FLAGS="--nodes 20 --pods 1000")
	$(GO) run ./cmd/kvcsi sim run --workload $(SIM_WORKLOAD) $(SIM_FLAGS)
sim-list: ## list the sim catalogue
	$(GO) run ./cmd/kvcsi sim list
test-sim: deps k8s-bins ## the small sim as a test (root): invariants only
	$(GO) test -count=1 -timeout 20m ./sim/...
