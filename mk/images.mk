# Images: the one image build path (images). The same tarballs are
# imported by the local cluster and loaded into kind by `make e2e`.
IMAGES_DIR := $(CURDIR)/_output/images
IMAGES ?=

.PHONY: images
images: ## build the OCI image tarballs into _output/images (IMAGES=pause,busybox picks some)
	$(GO) run ./images/cmd/build-images --version '$(VERSION)' --out '$(IMAGES_DIR)' $(if $(IMAGES),--only '$(IMAGES)')

# KIND and KIND_CLUSTER_NAME (default kvcsi) are defined once, in the Makefile.

.PHONY: images-kind-load
images-kind-load: ## build the images and `kind load image-archive` each into $(KIND_CLUSTER_NAME) (what make e2e needs)
	@set -e; tarballs=$$($(GO) run ./images/cmd/build-images -q --version '$(VERSION)' --out '$(IMAGES_DIR)'); \
	for t in $$tarballs; do \
	  echo "kind load image-archive $$t --name $(KIND_CLUSTER_NAME)"; \
	  $(KIND) load image-archive "$$t" --name '$(KIND_CLUSTER_NAME)'; \
	done

# REGISTRY is host[:port]/path, e.g. myacr.azurecr.io/kvcsi (docs/deploy.md#deploy-to-aks).
REGISTRY ?=

.PHONY: images-push
images-push: ## build the linux/amd64+arm64 images and push them and the Helm chart to $(REGISTRY) (IMAGES=... picks some)
	@test -n '$(REGISTRY)' || { echo 'images-push: set REGISTRY=<host>/<path>, e.g. make images-push REGISTRY=myacr.azurecr.io/kvcsi' >&2; exit 2; }
	$(GO) run ./cmd/kvcsi images push --registry '$(REGISTRY)' --version '$(VERSION)' --out '$(IMAGES_DIR)' $(if $(IMAGES),--only '$(IMAGES)')
