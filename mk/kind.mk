# kind on rootful podman with an offline node image (docs/kind.md).
# Where Docker runs kind's privileged nodes and kindest/node can be pulled,
# nothing here changes kind-up/kind-down/e2e (KIND_PROVIDER=docker). Where
# podman is installed, or no Docker daemon answers, KIND_PROVIDER=podman:
# kind-up, e2e, images-kind-load and kind-down then call `kind` through a
# wrapper (_output/kind/bin/kind, first on PATH) that selects kind's podman
# provider, a podman network of the cluster's own (kind-<cluster>, removed by
# `kind delete cluster`), the ulimits this sandbox allows (containers.conf)
# and --image, the node image `kvcsi kind node-image` builds from Debian
# packages and the project's binaries (~/.cache/kvcsi/kind).
KIND_PROVIDER ?= $(shell if command -v podman >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then echo podman; else echo docker; fi)
KIND_VERSION ?= v0.33.0
KIND_DIR := $(CURDIR)/_output/kind
# podman's default rlimits exceed the sandbox's hard limits (runc: "error
# setting rlimit type 7"); these are at or below them (docs/kind.md).
KIND_NOFILE ?= $(shell n=$$(ulimit -Hn); [ "$$n" = unlimited ] && n=1048576; echo $$n)
KIND_NPROC ?= 32768

.PHONY: kind-deps kind-node-image kind-wrapper test-kind
kind-deps: ## install podman and mmdebstrap (Debian) and kind $(KIND_VERSION) (Go module proxy) for the podman kind path
	@missing=$$(for p in podman mmdebstrap; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "kind-deps: missing Debian packages ($$missing); run as root: apt-get install $$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@# kind's podman provider always mounts /lib/modules (read-only); a kernel
	@# without modules (this sandbox's) has none: an empty directory does.
	@[ -d /lib/modules ] || mkdir -p /lib/modules
	@PATH=$$(echo "$$PATH" | sed 's#$(KIND_DIR)/bin:##g') command -v kind >/dev/null || GOBIN=$(HOME)/go/bin GOFLAGS=-mod=mod $(GO) install sigs.k8s.io/kind@$(KIND_VERSION)

kind-node-image: kind-deps ## build the offline kind node image (cached by content) and load it into podman
	nice -n 19 $(GO) run -ldflags '$(LDFLAGS)' ./cmd/kvcsi kind node-image --load --ref-file '$(KIND_DIR)/node-image.ref'

kind-wrapper: ## write _output/kind/bin/kind and _output/kind/containers.conf (the podman kind path)
	@mkdir -p '$(KIND_DIR)/bin'
	@printf '# written by mk/kind.mk\n[containers]\ndefault_ulimits = [\n  "nofile=%s:%s",\n  "nproc=%s:%s",\n]\n' \
	  '$(KIND_NOFILE)' '$(KIND_NOFILE)' '$(KIND_NPROC)' '$(KIND_NPROC)' > '$(KIND_DIR)/containers.conf'
	@sed -e 's#@KIND_DIR@#$(KIND_DIR)#g' hack/kind/kind-wrapper.sh > '$(KIND_DIR)/bin/kind.tmp'
	@chmod 0755 '$(KIND_DIR)/bin/kind.tmp' && mv '$(KIND_DIR)/bin/kind.tmp' '$(KIND_DIR)/bin/kind'

test-kind: ## kindnode's tests (node image layout), then make e2e on a fresh kind cluster (about 17 min warm here; not part of make test)
	$(GO) test -count=1 -timeout 10m ./kindnode/
	$(MAKE) e2e

ifeq ($(KIND_PROVIDER),podman)
export PATH := $(KIND_DIR)/bin:$(PATH)
kind-up images-kind-load kind-down: kind-wrapper
kind-up: kind-node-image
ifneq ($(origin KUBECONFIG),command line)
e2e: kind-wrapper kind-node-image
endif
endif
