# Thin wrapper over CMake: dependencies, build, test, install, demo.
PREFIX ?= /usr/local
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 600
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += --no-print-directory

.PHONY: all deps build asan fuzzers fuzz test test-fast install clean lab-deps app-deps demo

all: build

deps:
	@scripts/install-deps

lab-deps:
	@scripts/npm-deps lab

# The tenant app's dependencies (app/): part of every build, since the app is built by installing them.
app-deps: deps
	@scripts/npm-deps app

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps app-deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DALARIS_SANITIZE=ON

asan: deps $(ASAN_BUILD)/Makefile
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The libFuzzer targets of fuzz/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer): docs/fuzzing.md.
$(FUZZ_BUILD)/Makefile: CMakeLists.txt
	CC=clang-14 cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALARIS_SANITIZE=ON -DALARIS_FUZZ=ON

fuzzers: deps $(FUZZ_BUILD)/Makefile
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers

# Long runs: every target (or FUZZ_TARGET=json_decode) for FUZZ_TIME seconds each; stops at the first finding.
fuzz: fuzzers
	@set -e; targets="$(FUZZ_TARGET)"; \
	  [ -n "$$targets" ] || targets=$$(grep -l '^int LLVMFuzzerTestOneInput(' fuzz/*.c | sed 's|^fuzz/||; s|\.c$$||'); \
	  for t in $$targets; do \
	    echo "fuzz: $$t for $(FUZZ_TIME) s (findings in $(FUZZ_BUILD)/fuzz/findings/$$t/crashes/)"; \
	    fuzz/run $(FUZZ_BUILD)/fuzz/fuzz-$$t fuzz/corpus/$$t $(FUZZ_BUILD)/fuzz/findings/$$t $(FUZZ_TIME) $(FUZZ_FLAGS); \
	  done

# The whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer (any report fails it), then each
# fuzz target for a few seconds.
test: build asan fuzzers lab-deps
	cd $(BUILD) && ctest --output-on-failure --timeout 600
	cd $(ASAN_BUILD) && ctest --output-on-failure --timeout 900 -LE 'node|restore|plain-only'
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

test-fast: build lab-deps
	cd $(BUILD) && ctest --output-on-failure --timeout 600

# The whole story on the lab (scripts/demo): provision -> operators -> bootstrap-ops -> onboard tenant-a and tenant-b
# -> backup -> PITR -> DR drill -> grade; stops the lab at the end (KEEP_LAB=1 keeps it).
demo: build lab-deps
	@scripts/demo $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
