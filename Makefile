# Thin entry points; the work is done by the scripts in scripts/ (see their headers).
#   make            release build in build/
#   make up / down  the local stack (PostgreSQL, Kafka, API, worker) with data in var/up
#   make test       sanitizer build + unit tests + integration tests on a fresh var/test stack
#   make deps       install the Debian packages and the Kafka jars (idempotent)
#   make valgrind   the API and the worker under valgrind memcheck with a few hundred requests
#   make bench      the benchmark suite on a fresh var/bench stack; writes docs/BENCHMARKS.md
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS (default 120) each; crashes in var/fuzz
.DEFAULT_GOAL := build
.PHONY: build up down test deps clean format fuzz valgrind bench

build:
	scripts/build.sh release

up:
	scripts/up.sh

down:
	scripts/down.sh

test:
	scripts/test.sh

deps:
	scripts/install-deps.sh

# FUZZ_SECONDS=600 make fuzz, or scripts/fuzz.sh run money jwt for some targets.
fuzz:
	scripts/fuzz.sh run

valgrind:
	scripts/valgrind.sh

# Not part of `make test`: minutes of load on the real stack (see docs/BENCHMARKS.md).
bench:
	scripts/bench.sh

# Build trees only: var/ holds the stack's data and the Kafka jars, which `clean` must not lose.
clean:
	rm -rf build build-asan build-fuzz build-bench

format:
	@if command -v clang-format >/dev/null; then \
	  find src tests \( -name '*.c' -o -name '*.h' \) -print0 | xargs -0 -r clang-format -i; \
	else \
	  echo "clang-format not installed; nothing done"; \
	fi
