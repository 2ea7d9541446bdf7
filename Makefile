# rtcd developer tasks. `make test` is what CI runs (.ci/run): it installs
# what a fresh Debian machine lacks, then runs every test.
GO       ?= go
GOFLAGS  ?=
PKGS     := ./...

.PHONY: all build run test deps vet unit e2e bench-smoke stress fuzz bench bench-sfu clean

all: build

build:
	$(GO) build -o bin/rtcd ./cmd/rtcd

run:
	$(GO) run ./cmd/rtcd

deps:
	./test/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

# unit and integration tests, race detector on (includes the NAT matrix when root).
unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# real-browser tests (Chromium + playwright-core) in a loopback-only namespace.
e2e:
	./test/e2e/run.sh

# the benchmark command as a seconds-long smoke: it must run and report, timing never fails it.
bench-smoke:
	./test/bench-smoke.sh

test: deps vet unit e2e bench-smoke

# the flake gate (not in CI; about 11 minutes on 2 cores): every test that
# starts peers, nodes or browsers, repeated under the race detector. Peers
# (client, probe, daemon, sfu; not the daemon's coturn-client interop, which runs
# coturn's tools for seconds and no pion peer) run STRESS_COUNT times; the slower node tests
# (Redis cluster, NAT matrix) STRESS_NODES times; the browser tests once.
STRESS_COUNT ?= 20
STRESS_NODES ?= 3
stress: deps
	$(GO) test -race -count=$(STRESS_COUNT) -timeout 30m -skip '^TestTURNOnlyInterop$$' ./client ./internal/probe ./internal/daemon ./internal/sfu
	$(GO) test -race -count=$(STRESS_NODES) -timeout 30m ./signal/clustertest ./test/netns
	./test/e2e/run.sh

# short fuzz runs of every parser (longer: FUZZTIME=10m make fuzz).
FUZZTIME ?= 20s
fuzz:
	./test/fuzz.sh $(FUZZTIME)

# the full benchmark against coturn and raw UDP (minutes; not in CI).
bench:
	$(GO) build -o bin/rtcd ./cmd/rtcd
	./test/bench-full.sh

# the SFU figures of docs/performance.md: one room of 4, 10, 25 and 50
# WebRTC participants through the media server, 20 s each (minutes; not in
# CI; SFU_PARTICIPANTS, SFU_ROOMS and DUR change it).
bench-sfu:
	./test/bench-sfu.sh

clean:
	rm -rf bin
