# Wallet monorepo: one go.work with the modules below. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GOROOT_BIN := /usr/local/go/bin
GOPATH_BIN := $(shell PATH="$(GOROOT_BIN):$$PATH" go env GOPATH 2>/dev/null | cut -d: -f1)/bin
export PATH := $(GOROOT_BIN):$(PATH):$(GOPATH_BIN)

MODULES  := pkg account-service ledger-service outbox-relay bench systemtest
PKGS     := $(addprefix ./,$(addsuffix /...,$(MODULES)))
SERVICES := account-service ledger-service outbox-relay

.PHONY: all run stop build test test-short bench bench-all lint vet fmt compose-check clean

all: build

## run: the whole system locally (MariaDB, NATS, the services) under .run/
run:
	deploy/local/run.sh

## stop: stop what make run started (data in .run/ is kept)
stop:
	deploy/local/stop.sh

## build: the three services into bin/
build:
	go build -o bin/ $(foreach s,$(SERVICES),./$(s)/cmd/$(s))

## test: all tests with -race against a private MariaDB (.run/testdb, :3308), then compose-check
test:
	deploy/local/test.sh
	$(MAKE) --no-print-directory compose-check

## test-short: quick tests (-short, no race detector)
test-short:
	go test -short -count=1 $(PKGS)

## bench: load the running local stack (started if needed) and report settled transfers/s
##        against the naive baseline; flags via BENCH_FLAGS, e.g. make bench BENCH_FLAGS="-cross 0.5"
BENCH_FLAGS ?=
bench:
	deploy/local/run.sh
	. deploy/local/common.sh && load_secrets && go run ./bench -nats "$$(nats_url wallet_ledger)" $(BENCH_FLAGS)

## bench-all: the standard scenarios in one go (10% and 50% cross-shard, hot account, open loop)
bench-all:
	deploy/local/run.sh
	. deploy/local/common.sh && load_secrets && go run ./bench -suite -nats "$$(nats_url wallet_ledger)" $(BENCH_FLAGS)

## lint: go vet and gofmt over every module
lint: vet
	@files=$$(gofmt -l $(MODULES)); \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (make fmt):"; echo "$$files"; exit 1; fi

vet:
	go vet $(PKGS)

## fmt: gofmt every module in place
fmt:
	gofmt -w $(MODULES)

## compose-check: validate docker-compose.yml with Debian's docker-compose (installed if missing)
compose-check:
	@if ! command -v docker-compose >/dev/null 2>&1; then \
		echo "compose-check: installing docker-compose from the OS packages"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq docker-compose >/dev/null; } || true; \
	fi
	@if command -v docker-compose >/dev/null 2>&1; then \
		docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"; \
	else \
		echo "compose-check: docker-compose could not be installed; skipped"; \
	fi

## clean: stop everything, then remove bin/ and .run/ (all local data)
clean: stop
	deploy/local/mariadb.sh stop .run/testdb
	rm -rf bin .run
