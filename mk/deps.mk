# System packages every area declares in hack/apt-packages.txt.
.PHONY: deps
deps: ## install the Debian packages listed in hack/apt-packages.txt (root)
	@pkgs=$$(grep -v '^#' hack/apt-packages.txt | xargs); \
	missing=$$(for p in $$pkgs; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: missing Debian packages ($$missing); run as root: apt-get install $$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
TEST_DEPS += deps

# Every target that needs Debian packages checks them first, so a fresh machine
# learns what is missing before a long build, not after it (k8s-bins runs first
# in run and cluster-up, so it carries the check for them).
k8s-bins images images-kind-load run cluster-up e2e: deps
