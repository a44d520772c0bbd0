# civicpulse: the two commands a user needs are `make demo` and `make test`.
# Both install what is missing (Debian 12 packages, via apt-get), build, and run.

BUILD_DIR ?= build
FUZZ_BUILD_DIR ?= build-fuzz
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
# `make fuzz-long`: executions per fuzz target.
FUZZ_RUNS ?= 10000000
JOBS ?= 2
# `make demo DURATION=60` runs the demo for 60 seconds; empty means until Ctrl-C.
DURATION ?=
# Extra ctest arguments, e.g. `make test CTEST_ARGS="-L unit"`.
CTEST_ARGS ?=

DEBIAN_PACKAGES := build-essential cmake pkg-config git python3 \
	librdkafka-dev prometheus-cpp-dev rapidjson-dev libprotobuf-dev protobuf-compiler \
	libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev libssl-dev libcli11-dev \
	libcpp-httplib-dev libmicrohttpd-dev kcat prometheus prometheus-alertmanager python3-yaml clang \
	libclang-rt-14-dev wrk curl ccache tzdata
BENCH_PACKAGES := python3-confluent-kafka python3-prometheus-client

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps bench-deps build test test-unit sanitize asan tsan fuzz fuzz-long demo bench clean format

# Idempotent: apt-get runs only when a package is missing.
# Installs the Debian packages of $(1) that are missing.
define install_missing
	@missing=$$(for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing:" $$missing; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "All Debian packages present."; fi
endef

deps:
	$(call install_missing,$(DEBIAN_PACKAGES))

# What bench/ adds: the Python peer and the freshness harness (Kafka and Prometheus clients
# for Debian's /usr/bin/python3).
bench-deps:
	$(call install_missing,$(BENCH_PACKAGES))

$(BUILD_DIR)/CMakeCache.txt:
	cmake --preset release -B $(BUILD_DIR)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Every suite: unit, integration, e2e, chaos (release build), the unit and integration
# suites again under ASan+UBSan and the thread-heavy ones under TSan, and the fuzz smoke
# runs (clang build of the fuzz targets only).
test: build fuzz sanitize
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

sanitize: asan tsan

# AddressSanitizer + UndefinedBehaviorSanitizer over the unit and integration suites
# (ccache keeps a rebuild within CI's time; benchmarks are not built).
asan: deps
	cmake --preset asan -B $(ASAN_BUILD_DIR) > /dev/null
	cmake --build $(ASAN_BUILD_DIR) -j$(JOBS)
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -L 'unit|integration'

# ThreadSanitizer where it can tell the truth: the suites whose threads are ours and lock
# with std::mutex (the HTTP server: event threads, worker pool, deadline watchdog; the
# protobuf log throttle). Not the Kafka suites: a TSan build crashes inside Debian's
# uninstrumented librdkafka threads; not code locking with absl::Mutex, which TSan cannot
# see in Debian's uninstrumented libabsl. tsan.supp says why each suppression is there.
TSAN_TESTS := http_server_test protobuf_log_test record_router_test
tsan: deps
	cmake --preset tsan -B $(TSAN_BUILD_DIR) > /dev/null
	cmake --build $(TSAN_BUILD_DIR) -j$(JOBS) --target $(TSAN_TESTS)
	cd $(TSAN_BUILD_DIR) && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tsan.supp" \
	  ctest --output-on-failure -j$(JOBS) -R '^($(subst $(space),|,$(strip $(TSAN_TESTS))))$$'

empty :=
space := $(empty) $(empty)

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) -L unit

fuzz: deps
	cmake --preset fuzz -B $(FUZZ_BUILD_DIR) > /dev/null
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzzers
	cd $(FUZZ_BUILD_DIR) && ctest --output-on-failure -L fuzz

# 10 M executions per fuzz target (not in CI: about an hour each on 2 cores). New inputs go
# to a scratch corpus; the counts go to docs/fuzzing.md by hand from the summary printed.
fuzz-long: fuzz
	@for f in event_codec open311 csv_import; do \
	  mkdir -p $(FUZZ_BUILD_DIR)/long/$$f; \
	  echo "== $${f}_fuzz: $(FUZZ_RUNS) runs"; \
	  $(FUZZ_BUILD_DIR)/fuzz/$${f}_fuzz -runs=$(FUZZ_RUNS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD_DIR)/long/$$f/ $(FUZZ_BUILD_DIR)/long/$$f \
	    services/core/fuzz/corpus/$$f 2>&1 | grep -E 'stat::|Done|ERROR|SUMMARY' || exit 1; \
	done

demo: build
	DURATION=$(DURATION) BIN_DIR=$(BUILD_DIR)/bin deploy/local/demo.sh

bench: build bench-deps
	bench/run.sh $(BUILD_DIR)

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR)
