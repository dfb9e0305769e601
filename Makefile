# Thin driver over CMake/CTest. See README.md.
#   make          build build/sluice (RelWithDebInfo)
#   make check    unit + integration tests; ends with "N passed, N failed, N skipped"
#                 (CI=true make check: a skipped test fails the run)
#   make check SAN=1   the same under AddressSanitizer + UBSan (build-san/)
#   make demo     live cameras demo
#   make bench    benchmarks, appended to bench/RESULTS.md
#   make chaos-telco  telco at 400k/1.2M lines x commit intervals, with SIGKILLs
#   make fuzz     libFuzzer targets, long runs (FUZZ_RUNS=1000000)
#   make install  PREFIX=/usr/local DESTDIR=  binary, man page, completion, systemd unit
#   make format-check   clang-format --dry-run --Werror over src/ tests/ fuzz/ bench/
JOBS ?= 2
SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-san
CMAKE_FLAGS = -DSL_SAN=ON -DCMAKE_BUILD_TYPE=Debug
else
BUILD ?= build
CMAKE_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif

.PHONY: all deps deps-build build install check demo bench fuzz fuzz-build chaos format-check chaos-telco clean
all: build

deps:
	@scripts/deps.sh all

deps-build:
	@scripts/deps.sh build

build: deps-build
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

PREFIX ?= /usr/local
install: deps-build
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD)

ifeq ($(SAN),1)
check: deps build
	@scripts/run-tests.sh $(BUILD)
else
check: deps build fuzz-build
	@FUZZ_BUILD=build-fuzz scripts/run-tests.sh $(BUILD)
endif

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@bench/run.sh $(BUILD)

chaos: build
	@CHAOS_KILLS=20 CHAOS_EVENTS=2000000 bash tests/integration/cameras/test_crash.sh $(BUILD)
	@bash tests/integration/landing/chaos_writers.sh $(BUILD)

chaos-telco: build
	@scripts/telco-watermark-matrix.sh $(BUILD)

fuzz-build: deps
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build-fuzz -j$(JOBS)

fuzz: fuzz-build
	@FUZZ_RUNS=$${FUZZ_RUNS:-1000000} scripts/fuzz.sh build-fuzz

format-check:
	@scripts/format-check.sh

clean:
	rm -rf build build-san build-fuzz
