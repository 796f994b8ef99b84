# The commands a newcomer needs. `make dev` runs Gantry; `make test` tests it.
GO       ?= go
BIN      := bin/gantry
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DATA_DIR ?= $(HOME)/.gantry
PORT     ?= 4566

.PHONY: build dev test unit e2e lint bench bench-runtask bench-registry bench-placement bench-services generate setup clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/gantry

## dev: build the test image the README's tour runs, then run the all-in-one development stack on 127.0.0.1:$(PORT)
dev: build
	@./scripts/test-images.sh || echo "make dev: the tour's image gantry-test/busybox was not built (see above); run 'make setup' as root first"
	$(BIN) dev --data-dir $(DATA_DIR) --listen 127.0.0.1:$(PORT)

## setup: install the Debian packages the tests need and build the local test images (no-op when present)
setup:
	./scripts/setup.sh
	./scripts/test-images.sh

# The packages with concurrency (the store, the placement committer and assignment hub, the service controller,
# the agent's engine, the registry's uploads) run under the race detector; the rest run without it.
MODULE    := github.com/gantry-dev/gantry
RACE_PKGS := $(addprefix $(MODULE)/internal/,state ecs agent agent/engine agent/dockerrt agent/simrt agent/metadata registry reconcile server)

## test: every unit and integration test (the concurrent packages under -race), then the AWS CLI end-to-end script
test: setup build
	$(GO) test -count=1 -timeout 8m -race $(RACE_PKGS)
	$(GO) test -count=1 -timeout 8m $(filter-out $(RACE_PKGS),$(shell $(GO) list ./...))
	./scripts/e2e-cli.sh

unit:
	$(GO) test ./...

e2e: setup build
	./scripts/e2e-cli.sh

## lint: go vet and staticcheck
lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## bench: the API edge benchmarks beside etcd's ceiling (figures go in docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench 'DescribeClusters|RegisterTaskDefinition|EtcdTxn' -benchtime 5s ./internal/bench/

## bench-runtask: RunTask -> RUNNING beside docker run (about 7 minutes, real containers)
bench-runtask: setup
	$(GO) test -run '^$$' -bench RunTaskToRunning -benchtime 1x -timeout 30m ./internal/bench/

## bench-registry: the registry beside distribution v3.1.2 (builds the peer in a temp dir)
bench-registry: build
	./scripts/bench-registry.sh

## bench-placement: the pure scheduler on 10,000 instances, then RunTask at scale: gantry server and a 1,000-instance simulated fleet as processes
bench-placement:
	$(GO) test -run '^$$' -bench Place10k -benchtime 50000x -cpu 1 ./internal/placement/
	$(GO) test -run '^$$' -bench PlacementAtScale -benchtime 1x -timeout 30m ./internal/bench/

## bench-services: a 1,000-task service on 100 simulated instances; then 20 tasks beside Docker Swarm (swarm init on 127.0.0.1, left after)
bench-services: setup
	$(GO) test -run '^$$' -bench ServiceAtScale -benchtime 1x -timeout 10m ./internal/bench/
	$(GO) test -run '^$$' -bench ServiceVsSwarm -benchtime 1x -timeout 20m ./internal/bench/

## generate: regenerate wire types from the service models in ../shared/ref
generate:
	$(GO) generate ./internal/wire/...

clean:
	rm -rf bin
