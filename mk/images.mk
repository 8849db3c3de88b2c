# Images: the one image build path (localcluster/images). The same tarballs are
# imported by the local cluster and loaded into kind by `make e2e`.
IMAGES_DIR := $(CURDIR)/_output/images
IMAGES ?=

.PHONY: images
images: ## build the OCI image tarballs into _output/images (IMAGES=pause,busybox picks some)
	$(GO) run ./localcluster/images/cmd/build-images --version '$(VERSION)' --out '$(IMAGES_DIR)' $(if $(IMAGES),--only '$(IMAGES)')
