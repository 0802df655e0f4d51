# Wallet monorepo: one go.work with the modules below. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GOROOT_BIN := /usr/local/go/bin
GOPATH_BIN := $(shell PATH="$(GOROOT_BIN):$$PATH" go env GOPATH 2>/dev/null | cut -d: -f1)/bin
export PATH := $(GOROOT_BIN):$(PATH):$(GOPATH_BIN)
# Go 1.27.3 fixes the standard library vulnerabilities govulncheck reports for
# 1.26.8 (net/http, crypto/tls, crypto/x509); the go command fetches it from
# the module proxy on first use. Plain go commands need the same export.
export GOTOOLCHAIN := go1.27.3

MODULES  := pkg account-service ledger-service outbox-relay bench systemtest
PKGS     := $(addprefix ./,$(addsuffix /...,$(MODULES)))
SERVICES := account-service ledger-service outbox-relay

.PHONY: all run upgrade stop reconcile build test test-quick test-short systest bench bench-all bench-scale lint vet fmt-check mod-check staticcheck govulncheck fmt compose-check clean

all: build

## run: the whole system locally (MariaDB, NATS, the services) under .run/;
##      NATS_CLUSTER=3 runs three nats-servers, DB_SERVERS=2 two MariaDB servers
run:
	deploy/local/run.sh

## upgrade: make run on a stack made by an earlier release with fewer logical
##          shards: splits them into 256 first (docs/operations.md); make stop first
upgrade:
	UPGRADING=1 deploy/local/run.sh

## stop: stop what make run started, every server (data in .run/ is kept)
stop:
	deploy/local/stop.sh

## reconcile: ledger-service reconcile against make run's stack (ARGS=--json); any other
##            operator command likewise: deploy/local/cmd.sh ledger-service dead-letters list
ARGS ?=
reconcile:
	deploy/local/cmd.sh ledger-service reconcile $(ARGS)

## build: the three services into bin/
build:
	go build -o bin/ $(foreach s,$(SERVICES),./$(s)/cmd/$(s))

## test: all tests (-race but in systemtest) against a private MariaDB (.run/testdb, :3308), then
##       compose-check; TEST_P=n runs n test binaries at once (default 4)
test:
	deploy/local/test.sh
	$(MAKE) --no-print-directory compose-check

## systest: the nemesis bank test alone, on its own MariaDB servers and nats-server processes:
##          make systest DURATION=15m SEED=123 (SEED=0 draws one; runs over 3h are cut off);
##          the report goes to .run/systest-report.txt
DURATION ?= 100s
SEED     ?= 0
systest:
	@mkdir -p .run
	cd systemtest && go test -count=1 -v -run 'TestNemesis$$' -timeout 4h . \
		-args -nemesis.duration=$(DURATION) -nemesis.seed=$(SEED) -nemesis.report=$(CURDIR)/.run/systest-report.txt

## test-quick: the edit loop, under 2 minutes: every module but systemtest, -short, no race
##             detector, on the same private MariaDB as make test; make test before a commit
test-quick:
	QUICK=1 deploy/local/test.sh

## test-short: the old name of test-quick
test-short: test-quick

## bench: load the running local stack (started if needed) and report settled transfers/s
##        against the naive and set-based baselines; flags via BENCH_FLAGS, e.g. make bench BENCH_FLAGS="-cross 0.5"
##        (the shards are read on every MariaDB server of the stack: DB_SERVERS)
BENCH_FLAGS ?=
BENCH_STACK = -shards "$$LOGICAL_SHARDS" -nats "$$(nats_url wallet_ledger)" -servers "$$(servers_env wallet wallet "$$(db_servers)")"
bench:
	deploy/local/run.sh
	. deploy/local/common.sh && load_secrets && go run ./bench $(BENCH_STACK) $(BENCH_FLAGS)

## bench-all: issue 18's scenarios in one go (10% and 50% cross-shard, hot account, bulk, open loop at 70% of
##            the maximum, overload), each target printed with its figure and pass or MISS
bench-all:
	deploy/local/run.sh
	. deploy/local/common.sh && load_secrets && go run ./bench -suite $(BENCH_STACK) $(BENCH_FLAGS)

## bench-scale: issue 19's scale-out on this machine (root: cgroup v1 cpu): 1 node against 2 nodes,
##              each node's processes limited to 0.8 cores (deploy/local/scale.sh) and owning the same
##              partitions (-scale-p-per-node 2: 1 node P=2, 2 nodes P=4), single requests
##              and bulk, then 1 node's CPU per settled transfer at 1, 2, 4 and 8 partitions; ends with
##              "scale-out: 2 nodes / 1 node = X.XX×". Flags via BENCH_FLAGS (-duration 20s, -scale-cpu 0.8,
##              -scale-partitioned=false for code from before ADR 0038)
bench-scale:
	go run ./bench -scale $(BENCH_FLAGS)

## lint: go vet, gofmt, tidy go.mod files, staticcheck and govulncheck over every module
lint: vet fmt-check mod-check staticcheck govulncheck

vet:
	go vet $(PKGS)

fmt-check:
	@files=$$(gofmt -l $(MODULES) tools); \
	if [ -n "$$files" ]; then echo "gofmt: these files need formatting (make fmt):"; echo "$$files"; exit 1; fi

# Each module's go.mod must be complete on its own (GOWORK=off builds it, as
# the Dockerfile's per-module download does): go mod tidy would change nothing.
mod-check:
	@for m in $(MODULES) tools; do \
		(cd $$m && go mod tidy -diff >/dev/null) || { echo "$$m/go.mod is not tidy: run go mod tidy in $$m" >&2; exit 1; }; \
	done

# The lint tools are pinned in tools/go.mod (its own module, outside go.work,
# so no service module carries them) and built with the toolchain above.
TOOLS := bin/.tools-$(GOTOOLCHAIN)
$(TOOLS): tools/go.mod tools/go.sum
	cd tools && GOWORK=off GOBIN=$(CURDIR)/bin go install tool
	touch $@

staticcheck: $(TOOLS)
	bin/staticcheck $(PKGS)

# govulncheck reads a local copy of the Go vulnerability database: the public
# one cannot be reached from here, but the module proxy serves its OSV entries
# as the golang.org/x/vulndb module; vulndb's own indexdb turns them into the
# database layout govulncheck -db expects. Bump VULNDB_VERSION to refresh.
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := $(CURDIR)/.run/vulndb-$(VULNDB_VERSION)
$(VULNDB)/index/db.json:
	@echo "govulncheck: building the vulnerability database $(VULNDB_VERSION) in .run/"
	@src=$$(GOWORK=off go mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
	[ -d "$$src/data/osv" ] || { echo "govulncheck: golang.org/x/vulndb has no data/osv" >&2; exit 1; }; \
	rm -rf $(VULNDB).tmp; \
	GOWORK=off go run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out $(VULNDB).tmp; \
	rm -rf $(VULNDB); mv $(VULNDB).tmp $(VULNDB)

govulncheck: $(TOOLS) $(VULNDB)/index/db.json
	@for m in $(MODULES); do \
		if ! out=$$(cd $$m && ../bin/govulncheck -db file://$(VULNDB) ./... 2>&1); then \
			echo "govulncheck: $$m"; echo "$$out"; exit 1; \
		fi; \
		echo "govulncheck: $$m: $$(echo "$$out" | grep -m1 -E '^(No vulnerabilities|Your code is affected)')"; \
	done

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
