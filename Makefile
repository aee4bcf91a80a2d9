# enroot-agent. `make demo` runs the agent's main job on this machine;
# `make test` installs what the tests need and runs them all.

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT   ?= $(dir $(GO))gofmt
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Three binaries, as the packages install them: the small front that answers
# the job path (importer, verify through the daemon, version) and execs the
# agent for everything else, the agent at ../libexec/enroot-agent/ from the
# front's directory (cmd/enroot-agent-front says why), and beside the agent
# the AWS helper it runs for each AWS call, which alone links the AWS SDK
# (cmd/enroot-agent-aws says why).
BIN     := bin/enroot-agent
AGENT   := libexec/enroot-agent/enroot-agent
AWS     := libexec/enroot-agent/enroot-agent-aws

export CGO_ENABLED := 0

.PHONY: all build test deps vet fmt-check unit fuzz demo clean config stage rpm deb packages bench

# Packages: ARCH is the rpm name of the target (x86_64, aarch64); the Go and
# Debian names follow from it. PKG_VERSION/PKG_RELEASE come from git describe.
ARCH        ?= $(shell uname -m)
GOARCH_x86_64  := amd64
GOARCH_aarch64 := arm64
DEBARCH_x86_64 := amd64
DEBARCH_aarch64 := arm64
GOARCH      = $(or $(GOARCH_$(ARCH)),$(error ARCH=$(ARCH): use x86_64 or aarch64))
PKG_VERSION ?= $(word 1,$(shell packaging/version.sh))
PKG_RELEASE ?= $(word 2,$(shell packaging/version.sh))
DIST        ?= dist
PKG_BIN     := $(DIST)/$(ARCH)/enroot-agent
PKG_AGENT   := $(DIST)/$(ARCH)/enroot-agent-full
PKG_AWS     := $(DIST)/$(ARCH)/enroot-agent-aws
STAGE       := $(DIST)/$(ARCH)/stage

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/enroot-agent-front
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(AGENT) ./cmd/enroot-agent
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(AWS) ./cmd/enroot-agent-aws

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$($(GOFMT) -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 -timeout 30m ./...

# The fuzz targets, for a bounded number of inputs each: the config loader
# (no input may panic it or yield an error without file:line; seeds:
# pkg/config/testdata/fuzz) and the importer's image names (ParseURI reads
# exactly what enroot's grammar, as regular expressions, reads). The budget is a count of executions, never a
# duration: a duration races Go's fuzz coordinator when the CPU is starved
# and fails with "context deadline exceeded" and no failing input
# (golang/go#75804). 200000 runs take about 20 s on the 2-core build machine
# while other builds share it (10-11k executions/s), less on an idle one.
FUZZTIME ?= 200000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./pkg/config/
	$(GO) test -run '^$$' -fuzz '^FuzzParseURIIsTheGrammar$$' -fuzztime $(FUZZTIME) ./pkg/imageref/

test: deps vet fmt-check unit fuzz

# Every benchmark of BENCHMARKS.md, BENCH_COUNT runs each, then the table of
# medians. Benchmarks only: -run '^$$' skips the tests of those packages.
BENCH_COUNT ?= 3
BENCH_PKGS  ?= ./pkg/credentials/ ./bench/
bench:
	$(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchtime 1x -count $(BENCH_COUNT) -timeout 60m $(BENCH_PKGS) 2>&1 | $(GO) run ./bench/table

# The binaries the packages ship: static (CGO off), for GOARCH, all three
# with the same flags and version.
$(PKG_BIN): FORCE
	GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/enroot-agent-front
$(PKG_AGENT): FORCE
	GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/enroot-agent
$(PKG_AWS): FORCE
	GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/enroot-agent-aws

# The commented default /etc/enroot-agent/config.yaml, from the code's
# defaults and the README's configuration table.
config:
	@mkdir -p $(DIST)
	$(GO) run ./packaging/genconfig README.md > $(DIST)/config.yaml.tmp
	mv $(DIST)/config.yaml.tmp $(DIST)/config.yaml

stage: $(PKG_BIN) $(PKG_AGENT) $(PKG_AWS) config
	rm -rf $(STAGE)
	packaging/stage.sh $(STAGE) $(PKG_BIN) $(PKG_AGENT) $(PKG_AWS) $(DIST)/config.yaml

rpm: stage
	packaging/rpm/build.sh $(STAGE) $(DIST) $(PKG_VERSION) $(PKG_RELEASE) $(ARCH)

deb: stage
	packaging/deb/build.sh $(STAGE) $(DIST) $(PKG_VERSION) $(PKG_RELEASE) $(DEBARCH_$(ARCH))

# Both formats for both architectures.
packages:
	$(MAKE) rpm deb ARCH=x86_64
	$(MAKE) rpm deb ARCH=aarch64

FORCE:

# The agent's main job on this machine: a sandbox node converged against
# local stand-ins for AWS, a real registry, real dpkg and real Slurm.
demo: deps build
	$(GO) run ./internal/demo $(BIN)

clean:
	rm -rf bin libexec $(DIST)
