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
