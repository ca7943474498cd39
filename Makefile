# mmvm — two commands do everything on a fresh machine:
#   make run    build mmvm and the guest programs, run hello and touch with --stats
#   make test   lint, unit tests, then the KVM tests (on /dev/kvm, else through QEMU)
SHELL := /bin/bash
GO ?= go
OUT := out
PKGS := ./...

.PHONY: all build guests lint test test-unit test-kvm test-kvm-race run cover clean

all: build

# Static binaries (CGO_ENABLED=0): mmvm must run inside the QEMU guest too.
build:
	CGO_ENABLED=0 $(GO) build -o $(OUT)/ ./cmd/...

# The guest programs (guest/Makefile), into $(OUT)/guest.
# musl-gcc comes from Debian's musl-tools and ld.lld from lld, installed here
# when missing (as root; otherwise the guest Makefile says what to install,
# and skips the lld-linked guest). rustc is not installed: hello-rust is
# built where it is present. A static /bin/busybox (busybox-static) is the
# real program the KVM tests run beside the guests.
guests:
	@{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || [ "$$(id -u)" != 0 ] || { echo "== installing busybox-static"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; }; }
	@command -v musl-gcc >/dev/null || [ "$$(id -u)" != 0 ] || { echo "== installing musl-tools"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null; }; }
	@command -v ld.lld >/dev/null || [ "$$(id -u)" != 0 ] || { echo "== installing lld"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lld >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lld >/dev/null; }; }
	$(MAKE) -C guest OUT=$(abspath $(OUT))/guest

lint:
	@echo "== lint: gofmt, go vet, staticcheck"
	@bad=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$bad" ]; then echo "gofmt would change:"; echo "$$bad"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

# The differential test of mm against the host kernel runs on its own, with
# -v, so that its count of operations and divergences is in the log.
test-unit:
	@echo "== unit tests (race detector on)"
	MMVM_KVM_TESTS_LATER=1 $(GO) test -race -count=1 -skip '^TestDifferential$$' $(PKGS)
	@echo "== differential test: mm against the host kernel (race detector on)"
	@set -o pipefail; $(GO) test -race -count=1 -run '^TestDifferential$$' -v ./mm/ | grep -E '^(--- |ok|FAIL|PASS)|differential|diverge'

cover:
	@echo "== coverage of the foundation packages"
	@$(GO) test -count=1 -cover ./arch/ ./rangeset/ ./memfile/ 2>/dev/null | sed 's/^/   /'

test: lint test-unit cover test-kvm test-kvm-race

# KVM_TESTS: packages whose tests need KVM, as PKG or PKG:REGEX (only the
# tests matching REGEX need KVM; the rest run in test-unit). kvmrun builds
# them statically and runs them on /dev/kvm, or, where there is none, inside
# a QEMU guest with nested KVM (package kvmhost; cache in .cache/kvmhost).
# A KVM test that skips fails this target.
KVM_TESTS := ./tests/ ./kvm/:^TestKVM ./ring0/:^TestKVM ./machine/:^TestKVM ./cmd/mmvm/:^TestKVM
# KVM_TIMEOUT bounds each QEMU kind's run: on a 2-core machine without
# /dev/kvm the two kinds run side by side in about 9 minutes each.
KVM_TIMEOUT ?= 13m

test-kvm: guests
	@echo "== KVM tests (on /dev/kvm, else inside a QEMU guest)"
	$(GO) run ./cmd/kvmrun test -timeout $(KVM_TIMEOUT) -guests $(OUT)/guest $(KVM_TESTS)

# Thread guests again with the race detector on (kvmrun -race: cgo, a
# static binary), on the nested-paging QEMU kind only: faults, memory calls
# and system calls from several threads at once, through the locks of mm,
# machine and syscalls. make test runs four of them (about a minute and a
# half); KVM_RACE_TESTS=./tests/:^TestThreadGuestsMatchNative$$ runs all
# (4 to 5 minutes); it is one argument, quoted.
KVM_RACE_TESTS ?= ./tests/:^TestThreadGuestsMatchNative$$/^(threads-glibc|threads-musl|threads-go_gc|threads-rust)$$

test-kvm-race: guests
	@echo "== KVM thread tests with the race detector (QEMU, nested paging)"
	$(GO) run ./cmd/kvmrun test -race -kinds max -timeout $(KVM_TIMEOUT) -guests $(OUT)/guest '$(KVM_RACE_TESTS)'

# The main job: hello and a 64 MiB first touch, with statistics. Without
# /dev/kvm mmvm runs them inside a QEMU guest (cached in .cache/kvmhost).
run: build guests
	MMVM_CACHE=.cache/kvmhost $(OUT)/mmvm run --stats $(OUT)/guest/hello
	MMVM_CACHE=.cache/kvmhost $(OUT)/mmvm run --stats $(OUT)/guest/touch 64
	MMVM_CACHE=.cache/kvmhost $(OUT)/mmvm run --stats $(OUT)/guest/threads-go primes

clean:
	rm -rf $(OUT)
