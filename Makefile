# civicpulse: the two commands a user needs are `make demo` and `make test`.
# Both install what is missing (Debian 12 packages, via apt-get), build, and run.

BUILD_DIR ?= build
FUZZ_BUILD_DIR ?= build-fuzz
JOBS ?= 2
# `make demo DURATION=60` runs the demo for 60 seconds; empty means until Ctrl-C.
DURATION ?=
# Extra ctest arguments, e.g. `make test CTEST_ARGS="-L unit"`.
CTEST_ARGS ?=

DEBIAN_PACKAGES := build-essential cmake pkg-config git python3 \
	librdkafka-dev prometheus-cpp-dev rapidjson-dev libprotobuf-dev protobuf-compiler \
	libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev libssl-dev libcli11-dev \
	libcpp-httplib-dev libmicrohttpd-dev kcat prometheus clang libclang-rt-14-dev wrk curl ccache tzdata

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build test test-unit fuzz demo bench clean format

# Idempotent: apt-get runs only when a package is missing.
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing:" $$missing; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "All Debian packages present."; fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake --preset release -B $(BUILD_DIR)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Every suite: unit, integration, e2e, chaos (release build) and the fuzz smoke runs
# (clang build of the fuzz targets only).
test: build fuzz
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -L unit

fuzz: deps
	cmake --preset fuzz -B $(FUZZ_BUILD_DIR) > /dev/null
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzzers
	cd $(FUZZ_BUILD_DIR) && ctest --output-on-failure -L fuzz

demo: build
	DURATION=$(DURATION) BIN_DIR=$(BUILD_DIR)/bin deploy/local/demo.sh

bench: build
	bench/run.sh $(BUILD_DIR)

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR)
