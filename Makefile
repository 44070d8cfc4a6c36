# Thin wrapper over CMake for the usual verbs. `make run` is the main job, `make test` the
# whole test suite (what CI runs). Both install what is missing first.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 20

.PHONY: all bootstrap assets build run test test-unit test-asan test-release fuzz bench format clean

all: build

bootstrap:
	@scripts/bootstrap.sh

# The API explorer's assets (npm swagger-ui-dist, pinned in web/docs/package-lock.json).
# Without the npm registry everything else still builds and runs; /docs then answers 503.
assets: bootstrap
	@scripts/fetch_web_assets.sh || echo "assets: continuing without the API explorer's assets"

build: bootstrap assets
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The whole local stack: Redis, demo data, features, models and the API on 127.0.0.1:8000.
run: build
	@scripts/fetch_demo_data.sh
	@$(BUILD)/sao up

# Sanitized unit tests, the Release build and short fuzz runs first, so the closing line is the
# full suite's.
test: build
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory fuzz
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-unit: build
	@cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# The Release configuration (-O3, more inlining) still builds warning-free under -Werror: GCC's
# flow analysis there differs from RelWithDebInfo's. The library and the CLI only.
test-release: bootstrap
	@cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DSAO_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(RELEASE_BUILD) -j $(JOBS) --target sao

# Unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, no recovery.
test-asan: bootstrap
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSAO_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L unit -j $(JOBS)

# Each libFuzzer target for FUZZ_SECONDS, seeded from ../shared (or SAO_SHARED_DIR).
fuzz: bootstrap
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DSAO_FUZZ=ON -DSAO_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/run_fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	@bench/run_all.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
