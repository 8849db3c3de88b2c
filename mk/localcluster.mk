# Local cluster: the pinned Kubernetes, etcd and containerd binaries,
# built once per version into ${XDG_CACHE_HOME:-~/.cache}/kvcsi/bin (or
# $KVCSI_BIN_CACHE); a warm run only checks the cache.
.PHONY: k8s-bins
k8s-bins: ## build the local cluster's binaries into the versioned cache (cold: several minutes)
	CGO_ENABLED=0 $(GO) run ./localcluster/cmd/k8s-bins

.PHONY: cluster-up cluster-down cluster-status
cluster-up: k8s-bins ## start the local cluster in the background (root)
	$(GO) run ./cmd/kvcsi cluster up --detach
cluster-down: ## stop the local cluster and restore the host (root)
	$(GO) run ./cmd/kvcsi cluster down
cluster-status: ## show the local cluster's state
	$(GO) run ./cmd/kvcsi cluster status

TEST_DEPS += k8s-bins
