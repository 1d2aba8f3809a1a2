# postern — one non-recursive GNU Makefile (STYLE.md section 1).
#
#   make                 build release binaries into build/release/
#   make BUILD=asan      ASan + UBSan build into build/asan/
#   make run             install what is missing, build, start on the
#                        embedded default configuration (var/)
#   make check           install what is missing, build, run every test in
#                        the release and the asan build (as root, the
#                        asan build's integration suite once more as
#                        uid 65534, with LeakSanitizer)
#   make unit|fuzz-replay|integration|integration-unprivileged
#                        one stage of the tests (this BUILD)
#   make format / format-check / lint

BUILD ?= release
O := build/$(BUILD)
VERSION := 0.1.0

CC ?= cc
ifeq ($(BUILD),fuzz)
CC := clang
endif

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wpointer-arith \
	-Wcast-qual -Wwrite-strings -Wvla -Wimplicit-fallthrough -Wundef \
	-fno-common
HARDEN := -fstack-protector-strong -fPIE
HARDEN_LD := -pie -Wl,-z,relro,-z,now

PKGS := openssl sqlite3 libcrypt
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lsqlite3 -lcrypt)

CFLAGS_COMMON := -std=c17 -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 \
	-DPOSTERN_VERSION='"$(VERSION)"' -Isrc -g $(WARN) $(HARDEN) \
	$(PKG_CFLAGS) -MMD -MP

ifeq ($(BUILD),release)
CFLAGS_V := -O2 -D_FORTIFY_SOURCE=3
else ifeq ($(BUILD),debug)
CFLAGS_V := -Og -D_FORTIFY_SOURCE=3
else ifeq ($(BUILD),asan)
CFLAGS_V := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
LDFLAGS_V := -fsanitize=address,undefined
else ifeq ($(BUILD),fuzz)
CFLAGS_V := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link \
	-DPOSTERN_FUZZING
LDFLAGS_V := -fsanitize=address,undefined
else
$(error unknown BUILD=$(BUILD): use release, debug, asan or fuzz)
endif

ALL_CFLAGS := $(CFLAGS_COMMON) $(CFLAGS_V) $(CFLAGS)
ALL_LDFLAGS := $(HARDEN_LD) $(LDFLAGS_V) $(LDFLAGS)

# Every .c under src/ except the two programs' mains goes into one static
# library; programs and tests link against it.
LIB_SRC := $(filter-out src/posternd.c src/postern.c,$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
LIB := $(O)/libpostern.a

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/fuzz/%)

PROGS := $(O)/posternd $(O)/postern

# Test objects are intermediate files of the pattern rules; keep them so a
# second `make check` does not rebuild every test.
.SECONDARY:

.PHONY: all run check unit fuzz-replay fuzz integration \
	integration-unprivileged deps deps-test \
	format format-check lint clean check-one

all: $(PROGS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/posternd: $(O)/src/posternd.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/postern: $(O)/src/postern.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
	ln -sf postern $(O)/sendmail
	ln -sf postern $(O)/mailq
	ln -sf postern $(O)/newaliases

$(O)/tests/%: $(O)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# Under gcc every fuzz target links a small replay driver so the corpora
# run as regression tests; under clang (BUILD=fuzz) it links libFuzzer.
ifeq ($(BUILD),fuzz)
$(O)/fuzz/%: $(O)/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)
else
$(O)/fuzz/%: $(O)/tests/fuzz/%.o $(O)/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)
endif

# --- tests --------------------------------------------------------------
# Each stage appends "name passed failed" lines to $(O)/results; the
# summary prints "N passed, N failed" and fails if anything failed.

unit: $(UNIT_BIN)
	@scripts/run-unit $(O) $(UNIT_BIN)

fuzz-replay: $(FUZZ_REPLAY)
	@scripts/run-fuzz-replay $(O) $(FUZZ_REPLAY)

integration: $(PROGS)
	@scripts/run-integration $(O)

# As root: the suite again as uid 65534, no chroot, LeakSanitizer on.
integration-unprivileged: $(PROGS)
	@scripts/run-integration $(O) unprivileged

check-one: all unit fuzz-replay integration

deps:
	@scripts/deps build

deps-test:
	@scripts/deps test

check: deps-test
	@rm -rf build/release/results build/asan/results build/static
	@scripts/run-static build/static; \
	 $(MAKE) -k --no-print-directory BUILD=release check-one; \
	 $(MAKE) -k --no-print-directory BUILD=asan check-one \
		integration-unprivileged; \
	 scripts/summary build/static/results build/release/results \
		build/asan/results

run: deps
	@$(MAKE) --no-print-directory BUILD=release all
	@scripts/run-default build/release

# libFuzzer builds (clang): make fuzz FUZZ_SECONDS=60
FUZZ_SECONDS ?= 30
fuzz:
	@$(MAKE) --no-print-directory BUILD=fuzz \
		$(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/fuzz/%)
	@for f in $(FUZZ_SRC:tests/fuzz/%.c=%); do \
		mkdir -p build/fuzz/corpus/$$f; \
		build/fuzz/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
			build/fuzz/corpus/$$f tests/fuzz/corpus/$$f || exit 1; \
	done

C_FILES = $(shell find src tests -name '*.[ch]')
format:
	clang-format -i $(C_FILES)
format-check:
	clang-format --dry-run -Werror $(C_FILES)
lint:
	@scripts/run-static build/static
	clang-tidy --quiet $(LIB_SRC) -- $(CFLAGS_COMMON)

clean:
	rm -rf build

-include $(shell find build/$(BUILD) -name '*.d' 2>/dev/null)
