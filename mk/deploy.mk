# deploy area: Helm chart charts/kvcsi, plain manifests deploy/, `kvcsi addon`.

.PHONY: manifests
manifests: ## copy the CRDs into the chart and render deploy/*.yaml from charts/kvcsi
	cp api/secretsstore/crds/*.yaml api/secretsync/crds/*.yaml charts/kvcsi/crds/
	$(GO) test ./deploy -run '^TestManifestsAreRenderedFromTheChart$$' -count=1 -update

.PHONY: test-deploy
test-deploy: ## chart, manifests and add-on tests (the real-apiserver ones start a local control plane)
	$(GO) test -count=1 ./charts/... ./deploy/... ./addon/...
