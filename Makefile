# Lockstep. The two commands a newcomer needs: `make dev` and `make test`.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/lockstep-dev/lockstep/internal/version.Version=$(VERSION)
BIN := bin/lockstep
# Without cgo, like the image's binary: with it, Go's plugin package (which
# Kustomize imports) makes the linker export and keep every symbol (measured
# before renders moved to lockstep-render: 98 MiB resident at start instead of 61).
export CGO_ENABLED ?= 0
# Test packages run two at a time (one per core); each starts its own control plane.
TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: all dev test build lint deps postgres kube gitea bench fuzz generate clean image bundle static

all: build

## deps: install missing Debian packages (git, openssh-client, gnupg, chromium, fonts-dejavu-core)
deps:
	@hack/deps.sh

## postgres: install Debian's PostgreSQL server binaries when missing, for the tests of the
## ledger's PostgreSQL store (they start a server of their own; none is left running)
postgres:
	@hack/postgres.sh

## build: build bin/lockstep and bin/lockstep-render (the sandboxed render process lockstep
## starts; it must stay beside lockstep)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/lockstep ./cmd/lockstep-render

## image: the container image without Docker: the static binaries lockstep and lockstep-render
## (CGO off, -trimpath), then an OCI layout, a tarball and the SBOM in dist/ (sign with:
## bin/lockstep image build ... --key KEY)
image: build static
	$(BIN) image build --binary bin/lockstep-static --render-binary bin/lockstep-render-static --tag lockstep:$(VERSION) --out dist

## bundle: the offline bundle, signed with KEY (make bundle KEY=keys/image.key): the image built
## and signed, then dist/lockstep-VERSION.tar.gz (see docs/airgap.md)
bundle: build static
	@test -n "$(KEY)" || { echo "make bundle: say which key signs it: make bundle KEY=keys/image.key (lockstep image keygen makes one)"; exit 2; }
	rm -f dist/lockstep-$(VERSION).tar.gz
	$(BIN) image build --binary bin/lockstep-static --render-binary bin/lockstep-render-static --tag lockstep:$(VERSION) --key $(KEY) --out dist
	$(BIN) bundle create --build dist --binary bin/lockstep-static --render-binary bin/lockstep-render-static --key $(KEY) --out dist/lockstep-$(VERSION).tar.gz

# static: the two binaries the image holds, the same bytes from the same sources
static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS) -buildid=" -o bin/lockstep-static ./cmd/lockstep
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS) -buildid=" -o bin/lockstep-render-static ./cmd/lockstep-render

## kube: build the Kubernetes binaries once per machine (cached under ~/.cache/lockstep)
kube: build
	@$(BIN) dev prepare >/dev/null

## gitea: build the Gitea that commit-status and webhook tests run, once per machine (cached
## under ~/.cache/lockstep; see internal/testenv/gitea)
gitea:
	@$(GO) run ./internal/testenv/gitea/prepare >/dev/null

## dev: run the local control plane, Git server and example repository until Ctrl-C
dev: deps kube
	$(BIN) dev

## test: run every test against the real local control plane and Git server, then the
## race detector over the repository storage that renders and fetches share
test: deps postgres kube gitea
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	CGO_ENABLED=1 $(GO) test -race $(TEST_FLAGS) -run 'WhileAFetch' ./internal/source/

## lint: gofmt, go vet and staticcheck
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin .lockstep dist

## bench: control-plane start and memory; N Applications converging, steady-state cost, drift latency; ledger append rate and size (SQLite and PostgreSQL); 10,000 Applications listed through the API; the web UI's pages loaded in Chromium; the installed controller's start-up and idle memory (numbers for BENCHMARKS.md)
bench: deps postgres kube
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 20m ./internal/testenv/cluster/
	$(GO) test -run '^$$' -bench Converge -benchtime 1x -timeout 40m ./internal/reconcile/
	$(GO) test -run '^$$' -bench Ledger -benchtime 2s ./internal/audit/sqlite/
	$(GO) test -run '^$$' -bench Ledger -benchtime 2s ./internal/audit/postgres/
	$(GO) test -run '^$$' -bench ListApplications -benchtime 200x -timeout 30m ./internal/server/scale/
	$(GO) test -run '^$$' -bench UI -benchtime 5x -timeout 30m ./internal/server/scale/
	$(GO) test -run '^$$' -bench InstalledControllerStart -benchtime 3x -timeout 10m ./config/rbac/

FUZZTIME ?= 30s
# Go minimizes every new interesting input for up to 60 s by default: with slow targets (SOPS,
# Helm) that took the whole run. A count bounds it; a crasher is still shortened.
FUZZMINIMIZE ?= 500x
# Address space for each fuzzing process, in KiB: a Helm template or Jsonnet program that
# allocates without bound then crashes one worker (the input is kept as a crasher) instead of
# taking the machine's memory.
FUZZMEM ?= 6000000
FUZZ_TEST = ulimit -v $(FUZZMEM) && $(GO) test

## fuzz: run each fuzz target of a parser of outside input for FUZZTIME (default 30s), one
## after another; a crasher is written to the package's testdata/fuzz/ (see docs/fuzzing.md)
fuzz:
	$(FUZZ_TEST) ./internal/render/engine -run '^$$' -fuzz '^FuzzPlain$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/render/engine -run '^$$' -fuzz '^FuzzKustomize$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/render/engine -run '^$$' -fuzz '^FuzzHelm$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/render/engine -run '^$$' -fuzz '^FuzzJsonnet$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/render/sops -run '^$$' -fuzz '^FuzzDecrypt$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/source/verify -run '^$$' -fuzz '^FuzzKeyRingAdd$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/source/verify -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/source -run '^$$' -fuzz '^FuzzParseTrailers$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/policy -run '^$$' -fuzz '^FuzzCheckImage$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/server -run '^$$' -fuzz '^FuzzFilterFromQuery$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/audit -run '^$$' -fuzz '^FuzzParsePublicKey$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/webhook -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2
	$(FUZZ_TEST) ./internal/health -run '^$$' -fuzz '^FuzzDelivery$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 2

CONTROLLER_GEN := $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0

## generate: deepcopy functions and CRD YAML from api/ (commit the result)
generate:
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=config/crd/bases
