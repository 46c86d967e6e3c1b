# Skiff: build, run and test. See README.md.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

KUBE_VERSION  := v1.37.2
SKIFF_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT        := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE    := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := \
  -X github.com/skiffk8s/skiff/internal/version.Skiff=$(SKIFF_VERSION) \
  -X github.com/skiffk8s/skiff/internal/version.Kubernetes=$(KUBE_VERSION) \
  -X github.com/skiffk8s/skiff/internal/version.Commit=$(COMMIT) \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=37 \
  -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
  -X k8s.io/component-base/version.gitCommit=$(COMMIT) \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/component-base/version.buildDate=$(BUILD_DATE) \
  -X k8s.io/client-go/pkg/version.gitMajor=1 \
  -X k8s.io/client-go/pkg/version.gitMinor=37 \
  -X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION) \
  -X k8s.io/client-go/pkg/version.gitCommit=$(COMMIT) \
  -X k8s.io/client-go/pkg/version.gitTreeState=clean \
  -X k8s.io/client-go/pkg/version.buildDate=$(BUILD_DATE)

DATA_DIR ?= /var/lib/skiff
# Debian packages the cluster and the tests need.
SYSTEM_PACKAGES := ca-certificates iptables conntrack containerd runc
TEST_PACKAGES   := etcd-server containerd runc docker-registry busybox-static iptables iproute2

.PHONY: all build up containerd deps test-deps test test-short bench vet fmt clean deb

all: build

build: bin/skiff

# CGO_ENABLED=0: a static binary, and without cgo the linker does not
# export every symbol for Go plugins (kustomize, inside kubectl, imports
# "plugin"), which made the binary 35 MB larger and every process map it.
bin/skiff: $(shell find . -name '*.go' -not -path './bin/*') go.mod go.sum
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/skiff ./cmd/skiff

# deb builds dist/skiff_<version>_<arch>.deb from bin/skiff with nfpm (see
# packaging/): /usr/bin/skiff, the systemd units and /etc/skiff configs of
# systemd/. Version from git describe, arch from GOARCH; for another
# architecture rebuild the binary too: make clean deb GOARCH=arm64.
DEB_ARCH = $(shell go env GOARCH)
deb: bin/skiff
	go run ./packaging/cmd/mkdeb -repo . -binary bin/skiff -version $(SKIFF_VERSION) -arch $(DEB_ARCH) -out dist

# deps installs the system packages a cluster needs (root, Debian 12).
deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# test-deps installs what the tests use besides Go: an external etcd.
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	    systemctl disable --now etcd >/dev/null 2>&1 || true; \
	  else echo "not root: tests needing $$missing will skip"; fi; \
	fi

# up starts a single-host cluster in the foreground (Ctrl-C stops it).
up: deps build containerd
	./bin/skiff up --data-dir $(DATA_DIR)

# containerd makes sure containerd answers on its socket: through systemd
# where it runs, else started in the background (logs in
# /var/log/skiff-containerd.log).
# containerd is started unless one answers on its socket (a socket left
# by a containerd that died does not count).
containerd:
	@if ! ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then \
	  if systemctl is-system-running >/dev/null 2>&1 || systemctl is-system-running 2>&1 | grep -qE 'degraded|starting'; then \
	    systemctl enable containerd; systemctl restart containerd; \
	  else \
	    echo "starting containerd (no systemd)"; \
	    rm -f /run/containerd/containerd.sock; \
	    nohup containerd >/var/log/skiff-containerd.log 2>&1 & \
	  fi; \
	  for i in $$(seq 100); do ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi

# test runs every test: unit, integration (real embedded etcd), and the
# tiers that need root when run as root.
test: test-deps
	go vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go test -count=1 -timeout 25m ./...

test-short:
	go test -short -count=1 ./...

# bench runs the API benchmarks (see README for the figures).
bench:
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./apiserver/... ./runtime/... ./kubelet/... ./test/...

vet:
	go vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
