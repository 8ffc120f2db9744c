# faultline — build, test (host + real-kernel VM), format.
#
#   make test     installs what it needs, runs the unit tests on the host, the privileged suite
#                 inside a qemu VM on Debian's stock kernel (sch_netem), and the Python suites.
#   make demo     the whole product on one machine, in the VM when this kernel lacks sch_netem.
#   make vm-test  only the privileged suite in the VM.
#   make deploy-test  the Kubernetes manifests (offline schema validation) and the Dockerfile.
#   make bench    the benchmarks (not part of make test; docs/BENCHMARKS.md).
#   make image    the container image without a registry or a Docker engine (scripts/image-build):
#                 release binary + mmdebstrap base + a COPY-only podman build.
#   make image-test  checks that image from inside its filesystem under runc (scripts/image-test).
#                 Neither is part of make test: the release build alone takes 15+ minutes on
#                 2 cores, and the base needs the Debian mirror (deploy/kubernetes/README.md).
#   make report-test  the `analyze --report` page in headless Chromium, alone (screenshot in
#                 .build/test-output/); unit-test runs it after the parallel suite.
#   make format / make lint

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
SWIFT ?= swift
PYTHON ?= python3
XCTEST := .build/debug/faultlinePackageTests.xctest
# Both make test and make image: the Swift build's C libraries, libcap2-bin (capability sets), iproute2.
BUILD_APT_PACKAGES := libnl-3-dev libnl-route-3-dev libcap-dev zlib1g-dev libcap2-bin iproute2
# chromium: the HTML report's browser test (about 80 s to install from Debian's mirror).
APT_PACKAGES := $(BUILD_APT_PACKAGES) qemu-system-x86 busybox-static cpio kmod chromium
STAMP := .build-deps/stamp
# make image / image-test only: podman builds and mounts, runc runs (podman's crun cannot here),
# mmdebstrap makes the base, binutils strips and reads ELF, libcap2-bin decodes capability sets.
IMAGE_APT_PACKAGES := $(BUILD_APT_PACKAGES) podman runc mmdebstrap binutils
IMAGE_STAMP := .build-deps/image-stamp
IMAGE ?= localhost/faultline:dev

.PHONY: all deps build test unit-test vm-test python-test lint format clean deploy-test bench demo \
  image image-test report-test

all: build

# $(call apt_install,PACKAGES): installs those not installed yet (one apt-get update first).
define apt_install
@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "    apt-get install$$missing"; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
fi
endef

$(STAMP): Makefile scripts/peers/requirements.txt middleware/python/pyproject.toml
	@echo "==> installing system packages (apt) and Python test peers (pip)"
	$(call apt_install,$(APT_PACKAGES))
	$(PYTHON) -m pip install -q --disable-pip-version-check -r scripts/peers/requirements.txt croniter==7.0.0
	$(PYTHON) -m pip install -q --disable-pip-version-check -e 'middleware/python[test]'
	@mkdir -p $(dir $(STAMP)) && touch $(STAMP)

deps: $(STAMP)

build: deps
	@echo "==> swift build (a first build compiles the Swift dependencies: a few minutes on 2 cores)"
	$(SWIFT) build --build-tests 2>&1 | scripts/progress

unit-test: build
	@echo "==> unit tests on the host (the real-kernel suites are skipped here; vm-test runs them)"
	$(SWIFT) test --skip-build
	@$(MAKE) --no-print-directory report-test

# Alone, not inside the parallel run above: Chromium's start-up takes both cores for seconds.
report-test: build
	@echo "==> faultline analyze --report in headless Chromium (screenshot: .build/test-output/analyze-report.png)"
	FAULTLINE_BROWSER_TEST=1 $(SWIFT) test --skip-build --filter ReportBrowserTests

vm-test: build
	@echo "==> privileged suite in the real-kernel VM (this host's kernel has no sch_netem)"
	@mkdir -p .build-vm/out
	scripts/vm-test --timeout 2400 -- $(XCTEST) --testing-library swift-testing \
	  --filter RealKernel --filter PodResolutionVMTests --filter PodDaemonVMTests --filter ChaosMeshTargetVMTests \
	  | tee .build-vm/out/vm-test.log
	@for suite in RealKernel PodResolutionVMTests PodDaemonVMTests ChaosMeshTargetVMTests; do \
	  grep -q "Suite $$suite passed" .build-vm/out/vm-test.log || { echo "vm-test: $$suite did not pass"; exit 1; }; \
	done

# build: test_metrics_scrape.py runs the built faultline; FAULTLINE_BIN makes its absence a failure.
python-test: deps build
	@echo "==> Python suites (middleware, OTLP receiver, the agent's /metrics and OTLP metrics)"
	FAULTLINE_BIN=$(CURDIR)/.build/debug/faultline $(PYTHON) -m pytest -q middleware/python/tests scripts/peers

deploy-test: deps
	@echo "==> Kubernetes manifests (kustomize + kubernetes-validate 1.30 strict, offline) and Dockerfile"
	scripts/check-deploy

demo: deps
	@echo "==> demo: a fault window on a small pod, measured, traced and reverted (scripts/demo)"
	scripts/demo

$(IMAGE_STAMP): Makefile
	@echo "==> installing the image tools (apt)"
	$(call apt_install,$(IMAGE_APT_PACKAGES))
	@$(PYTHON) -c 'import yaml' 2>/dev/null || $(PYTHON) -m pip install -q --disable-pip-version-check PyYAML==6.0.3
	@mkdir -p $(dir $(IMAGE_STAMP)) && touch $(IMAGE_STAMP)

image: $(IMAGE_STAMP)
	@echo "==> image $(IMAGE): release binary + mmdebstrap base + COPY-only podman build"
	IMAGE=$(IMAGE) scripts/image-build

image-test: image
	@echo "==> image-test: $(IMAGE) checked inside its filesystem under runc"
	IMAGE=$(IMAGE) $(PYTHON) scripts/image-test

bench: deps
	@echo "==> benchmarks: netem figures in the real-kernel VM, the rest on the host (docs/BENCHMARKS.md)"
	scripts/bench

test: lint unit-test vm-test python-test deploy-test
	@echo "==> all tests passed"

lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

format:
	$(SWIFT) format -i -r Sources Tests Package.swift

clean:
	rm -rf .build .build-vm .build-deps .build-image
