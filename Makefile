# enroot-agent. `make demo` runs the agent's main job on this machine;
# `make test` installs what the tests need and runs them all.

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT   ?= $(dir $(GO))gofmt
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/enroot-agent

export CGO_ENABLED := 0

.PHONY: all build test deps vet fmt-check unit demo clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/enroot-agent

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$($(GOFMT) -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -count=1 -timeout 30m ./...

test: deps vet fmt-check unit

demo: build
	./scripts/demo.sh $(BIN)

clean:
	rm -rf bin dist
