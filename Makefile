# synq build. `make` builds ./synq; `make test` builds with ASan+UBSan and runs
# every unit, fuzz-corpus and end-to-end test; `make run` starts the server.
PKG_CONFIG ?= pkg-config
PKGS       := libuv jansson sqlite3 libcurl libcrypto zlib
# http-parser and wslay ship no .pc file on Debian.
EXTRA_LIBS := -lhttp_parser -lwslay -lpthread -lm

BUILD    ?= build
SANITIZE ?=
V        ?=
Q        := $(if $(V),,@)

SYNQ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Wshadow \
               -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Isrc \
               $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
SYNQ_LDLIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) $(EXTRA_LIBS)

ifdef SANITIZE
SYNQ_CFLAGS  += -O1 -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
SYNQ_LDFLAGS += -fsanitize=$(SANITIZE)
else
SYNQ_CFLAGS  += -O2
endif

SRCS     := $(shell find src -name '*.c' | sort)
OBJS     := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(filter-out $(BUILD)/src/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/replay_%)

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all run test unit replay e2e bench bench-sched bench-fanout bench-faktory fuzz clean deps test-deps lint format
all: synq

synq: $(BUILD)/synq
	$(Q)cp $< $@

$(BUILD)/synq: $(OBJS)
	@echo "  LINK  $@"
	$(Q)$(CC) $(SYNQ_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SYNQ_LDLIBS) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC    $<"
	$(Q)$(CC) $(SYNQ_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	@echo "  TEST  $@"
	$(Q)$(CC) $(SYNQ_CFLAGS) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags cmocka) $(SYNQ_LDFLAGS) -o $@ $< \
		$(LIB_OBJS) $(shell $(PKG_CONFIG) --libs cmocka) $(SYNQ_LDLIBS)

$(BUILD)/tests/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SYNQ_CFLAGS) $(CFLAGS) $(SYNQ_LDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIB_OBJS) $(SYNQ_LDLIBS)

-include $(OBJS:.o=.d)

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh test

run: deps
	$(Q)$(MAKE) --no-print-directory synq
	./synq serve --http $${SYNQ_HTTP:-127.0.0.1:7700} --data $${SYNQ_DATA:-./data}

# Everything CI runs. A sanitized build lives in build/asan so `make run` keeps its own.
test: test-deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=address,undefined \
		build/asan/synq unit replay
	$(Q)$(MAKE) --no-print-directory e2e SYNQ_BIN=$(CURDIR)/build/asan/synq

unit: $(UNIT_BINS)
	@pass=0; fail=0; for t in $(UNIT_BINS); do \
		if $(ASAN_ENV) $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit: $$pass passed, $$fail failed"; [ $$fail -eq 0 ] && [ $$pass -gt 0 ]

# Replays every checked-in fuzz corpus file through its target, built with gcc.
replay: $(REPLAY_BINS)
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		$(ASAN_ENV) $(BUILD)/tests/replay_$$n tests/fuzz/corpus/$${n#fuzz_} || exit 1; done

SYNQ_BIN ?= $(CURDIR)/synq
e2e:
	$(Q)cd tests/e2e && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --silent --no-audit --no-fund; }
	$(Q)cd tests/e2e && $(ASAN_ENV) SYNQ_BIN=$(SYNQ_BIN) node --test --test-concurrency=1 $${E2E:-*.test.js}

bench: deps
	$(Q)$(MAKE) --no-print-directory synq
	$(Q)bench/run.sh

# Scheduler benchmark (about 2 minutes): 10,000 schedules firing every second
# for 60 s, and cron next-fire computations per second (bench/sched.sh).
bench-sched: deps
	$(Q)$(MAKE) --no-print-directory synq $(BUILD)/bench/cron_next
	$(Q)CRON_NEXT=$(BUILD)/bench/cron_next bench/sched.sh

# LiveSync fan-out benchmark (about 1 minute): 1,000 WebSocket subscribers on
# one channel, 1,000 msg/s for 30 s, then 10,000 idle connections (bench/fanout.sh).
bench-fanout: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/synq
	$(Q)SYNQ_BIN=$(BUILD)/synq bench/fanout.sh

# Faktory protocol benchmark (about 1 minute): 100,000 jobs pushed with PUSHB and drained
# by a C FWP client (50 connections) and by faktory-worker (concurrency 50) (bench/faktory.sh).
bench-faktory: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/synq
	$(Q)SYNQ_BIN=$(BUILD)/synq bench/faktory.sh

$(BUILD)/bench/cron_next: bench/cron_next.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SYNQ_CFLAGS) $(CFLAGS) $(SYNQ_LDFLAGS) -o $@ $< $(LIB_OBJS) $(SYNQ_LDLIBS)

# libFuzzer builds (clang); runs each target for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
               $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
fuzz: test-deps
	@mkdir -p build/fuzz
	$(Q)for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		clang $(FUZZ_CFLAGS) -o build/fuzz/$$n $$f $(filter-out src/main.c,$(SRCS)) $(SYNQ_LDLIBS) || exit 1; \
		mkdir -p build/fuzz/corpus-$$n; \
		build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus-$$n tests/fuzz/corpus/$${n#fuzz_} || exit 1; \
	done

lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 -Isrc \
		--inline-suppr --suppress=varFuncNullUB --suppress=unknownMacro src
format:
	clang-format -i $(SRCS) $(shell find src -name '*.h')

clean:
	rm -rf build synq
