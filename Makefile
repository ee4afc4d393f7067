# Tocsin - see README.md. `make` builds; `make check` and `make demo` are the two
# commands of a fresh Debian 12 machine (they install what is missing first).

CC      ?= cc
SAN     ?=
PYTHON  ?= /usr/bin/python3
PKGS    := libzmq msgpack libpq check ck inih libxml-2.0 jansson libmicrohttpd

comma   := ,
BUILD   := build$(if $(SAN),-$(subst $(comma),-,$(SAN)))

# Lazily expanded, so that `make deps` can install pkg-config files first.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs libzmq msgpack libpq ck inih libxml-2.0 jansson libmicrohttpd 2>/dev/null) -lev -lpthread -lm
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
# `tocsin watch` only: the terminal.
CURSES_LIBS = $(shell pkg-config --libs ncursesw 2>/dev/null || pkg-config --libs ncurses 2>/dev/null)

OPT     ?= -O2
CFLAGS  += -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -Iinclude -Icommon -Iserver
LDFLAGS +=
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=$(SAN)
endif
# `make fuzz` builds everything with clang and these (libFuzzer's coverage).
ifeq ($(FUZZ),1)
CFLAGS  += -fsanitize=fuzzer-no-link -fno-sanitize-recover=all
endif

COMMON_SRC  := $(wildcard common/*.c)
CORR_SRC    := $(wildcard correlator/*.c)
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
SDK_SRC     := $(wildcard adapters/sdk/*.c)
TOOLS_SRC   := $(wildcard tools/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
EXAMPLE_SRC := $(wildcard adapters/examples/*.c)
BENCH_SRC   := $(wildcard tests/bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# The static libraries refer to one another (common's CSV loader builds
# correlator graphs, the server uses both): link them as one group.
LINK = $(CC) $(LDFLAGS) -o $@ -Wl,--start-group $^ -Wl,--end-group

LIB_COMMON := $(BUILD)/libtocsin_common.a
LIB_CORR   := $(BUILD)/libtocsin_correlator.a
LIB_SERVER := $(BUILD)/libtocsin_server.a
LIB_SDK    := $(BUILD)/libtocsin-adapter.a
TOCSIND    := $(BUILD)/tocsind
TOCSIN     := $(BUILD)/tocsin
UNITS      := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
EXAMPLES   := $(patsubst adapters/examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRC))
BENCHES    := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

# Sanitizer reports fail the tests: UBSan stops at the first, TSan and ASan
# reports in tocsind's log fail the integration test that stopped it.
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS ?= second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp

.PHONY: all deps check check-san check-tsan tsan-programs test-programs unit integration demo \
	bench fuzz pg-start pg-stop pg-status clean
.DEFAULT_GOAL := all
# Keep intermediate objects (examples, benches) so a second make does nothing.
.SECONDARY:

all: $(TOCSIND) $(TOCSIN) $(LIB_SDK) $(UNITS) $(EXAMPLES) $(BENCHES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -fPIC -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
$(LIB_CORR): $(call obj,$(CORR_SRC))
$(LIB_SERVER): $(call obj,$(SERVER_SRC))
$(LIB_SDK): $(call obj,$(SDK_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TOCSIND): $(call obj,server/main.c) $(LIB_SERVER) $(LIB_CORR) $(LIB_COMMON)
	$(LINK) $(PKG_LIBS)

$(TOCSIN): $(call obj,$(TOOLS_SRC)) $(LIB_SDK) $(LIB_SERVER) $(LIB_CORR) $(LIB_COMMON)
	$(LINK) $(PKG_LIBS) $(CURSES_LIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(LIB_SERVER) $(LIB_SDK) $(LIB_CORR) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(LINK) $(CHECK_LIBS) $(PKG_LIBS)

$(BUILD)/examples/%: $(call obj,adapters/examples/%.c) $(LIB_SDK) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(LINK) $(PKG_LIBS)

$(BUILD)/bench/%: $(call obj,tests/bench/%.c) $(LIB_SDK) $(LIB_SERVER) $(LIB_CORR) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(LINK) $(PKG_LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- the two commands ---------------------------------------------------------

deps:
	@scripts/deps.sh

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory pg-start
	@$(MAKE) --no-print-directory unit integration

# A subset: `make unit UNIT_SUITES="journal store"`, `make integration
# IT_MODULES="ingest alerts"` (the file names without test_ and .c / .py).
UNIT_SUITES ?=
IT_MODULES  ?=
RUN_UNITS   := $(if $(UNIT_SUITES),$(patsubst %,$(BUILD)/tests/test_%,$(UNIT_SUITES)),$(UNITS))

# What `unit` and `integration` run (a parallel make can build them first).
test-programs: $(RUN_UNITS) $(TOCSIND) $(TOCSIN) $(EXAMPLES)

unit: $(RUN_UNITS)
	@scripts/run-units.sh $(RUN_UNITS)

integration: $(TOCSIND) $(TOCSIN) $(EXAMPLES)
ifeq ($(IT_MODULES),)
	TOCSIN_BUILD=$(BUILD) $(PYTHON) -m unittest discover -s tests/integration -p 'test_*.py' -v
else
	TOCSIN_BUILD=$(BUILD) PYTHONPATH=tests/integration $(PYTHON) -m unittest -v \
		$(patsubst %,test_%,$(IT_MODULES))
endif

# ---- sanitizers (docs/security.md, "Sanitizers") -------------------------------
# What CI (.ci/run) runs under ThreadSanitizer: the unit suites that start
# threads and the integration modules of the threaded server paths (ingest,
# alerts and its clearances, correlator, drills, store, outbox, metrics, the
# SIGHUP reload, failover). TSan is the slowest of the sanitizers and the other
# suites are single-threaded; `make check-san` runs everything.
TSAN_UNITS := journal outbox sdk store
# (test_durability is left to check-san: its store thread runs in every module
# here, its PostgreSQL outage and kill -9 cost TSan over 2 minutes.)
TSAN_IT    := ingest alerts clearance correlate drills drill_server outbox metrics signals \
	failover keys

tsan-programs:
	@$(MAKE) --no-print-directory SAN=thread test-programs UNIT_SUITES="$(TSAN_UNITS)"

check-tsan: deps
	@$(MAKE) --no-print-directory tsan-programs
	@$(MAKE) --no-print-directory pg-start
	@$(MAKE) --no-print-directory SAN=thread unit UNIT_SUITES="$(TSAN_UNITS)"
	@$(MAKE) --no-print-directory SAN=thread integration IT_MODULES="$(TSAN_IT)"

# Every unit and integration test under ASan + UBSan, then under TSan.
check-san: deps
	@$(MAKE) --no-print-directory check SAN=address,undefined
	@$(MAKE) --no-print-directory check SAN=thread

demo: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory pg-start
	@TOCSIN_BUILD=$(BUILD) scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all OPT=-O2
	@$(MAKE) --no-print-directory pg-start
	@TOCSIN_BUILD=$(BUILD) scripts/bench.sh
	@TOCSIN_BUILD=$(BUILD) scripts/bench-engine.sh
	@TOCSIN_BUILD=$(BUILD) $(PYTHON) tests/bench/alerts_bench.py
	@TOCSIN_BUILD=$(BUILD) TOCSIN_FLOOD_SECONDS=15 TOCSIN_FLOOD_REPORT=var/bench/fairshare.txt \
		$(PYTHON) -m unittest discover -s tests/integration -p test_rate.py -k FloodTest
	@cat var/bench/fairshare.txt

# ---- fuzzing: libFuzzer harnesses under ASan + UBSan (docs/security.md) -------

FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_SECONDS ?= 60

$(BUILD)/fuzz/%: $(call obj,tests/fuzz/%.c) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ -Wl,--start-group $^ -Wl,--end-group $(PKG_LIBS)

fuzz: deps
	@$(MAKE) --no-print-directory CC=clang SAN=address,undefined FUZZ=1 BUILD=build-fuzz \
		$(patsubst tests/fuzz/%.c,build-fuzz/fuzz/%,$(FUZZ_SRC))
	@FUZZ_BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_SRC)

# ---- make install / uninstall (docs/operations.md, "Installing") -------------

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/tocsin
# /usr installs configuration in /etc, any other prefix in PREFIX/etc.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

VERSION    := 0.1
# The adapter SDK's ABI: bump SDK_ABI (the soname) on any incompatible change
# of include/tocsin/{adapter,error,event}.h.
SDK_ABI    := 1
SDK_REAL   := $(SDK_ABI).0.0
# What users install: the SDK and what it needs of common/, one library that
# stands alone (the shared one is linked with --no-undefined to prove it).
SDK_COMMON := $(addprefix common/,error.c event_names.c keys.c log.c wire_pack.c wire_scan.c)
SDK_HDRS   := $(addprefix include/tocsin/,adapter.h error.h event.h)
DIST       := $(BUILD)/dist
SDK_DIST   := $(DIST)/libtocsin-adapter.a $(DIST)/libtocsin-adapter.so.$(SDK_REAL)
SUBST       = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	-e 's|@VERSION@|$(VERSION)|g'

$(DIST)/libtocsin-adapter.a: $(call obj,$(SDK_SRC) $(SDK_COMMON))
$(DIST)/libtocsin-adapter.so.$(SDK_REAL): $(call obj,$(SDK_SRC) $(SDK_COMMON)) \
		packaging/libtocsin-adapter.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ -Wl,-soname,libtocsin-adapter.so.$(SDK_ABI) \
		-Wl,--version-script=packaging/libtocsin-adapter.map \
		$(if $(SAN),,-Wl,--no-undefined) $(filter %.o,$^) \
		$(shell pkg-config --libs libzmq msgpack 2>/dev/null)

.PHONY: install uninstall
all: $(SDK_DIST)

install: $(TOCSIND) $(TOCSIN) $(SDK_DIST)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCLUDEDIR)/tocsin $(DESTDIR)$(DATADIR)/tocsin/schema \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(SYSCONFDIR)/tocsin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 755 $(TOCSIND) $(TOCSIN) $(DESTDIR)$(BINDIR)
	install -m 644 $(DIST)/libtocsin-adapter.a $(DESTDIR)$(LIBDIR)
	install -m 755 $(DIST)/libtocsin-adapter.so.$(SDK_REAL) $(DESTDIR)$(LIBDIR)
	ln -sf libtocsin-adapter.so.$(SDK_REAL) $(DESTDIR)$(LIBDIR)/libtocsin-adapter.so.$(SDK_ABI)
	ln -sf libtocsin-adapter.so.$(SDK_ABI) $(DESTDIR)$(LIBDIR)/libtocsin-adapter.so
	$(SUBST) packaging/tocsin.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/tocsin.pc
	install -m 644 $(SDK_HDRS) $(DESTDIR)$(INCLUDEDIR)/tocsin
	install -m 644 schema/*.sql $(DESTDIR)$(DATADIR)/tocsin/schema
	install -m 644 man/tocsin.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/tocsind.8 $(DESTDIR)$(MANDIR)/man8
	install -m 644 adapters/examples/*.py adapters/examples/*.c adapters/examples/*.csv \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 644 packaging/tocsind.conf.sample $(DESTDIR)$(SYSCONFDIR)/tocsin
	$(SUBST) packaging/tocsind.service.in >$(DESTDIR)$(UNITDIR)/tocsind.service
	install -m 644 packaging/tocsin.sysusers $(DESTDIR)$(SYSUSERSDIR)/tocsin.conf

# Removes what install wrote, never a tocsind.conf, keys or state.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tocsind $(DESTDIR)$(BINDIR)/tocsin \
		$(DESTDIR)$(LIBDIR)/libtocsin-adapter.a $(DESTDIR)$(LIBDIR)/libtocsin-adapter.so \
		$(DESTDIR)$(LIBDIR)/libtocsin-adapter.so.$(SDK_ABI) \
		$(DESTDIR)$(LIBDIR)/libtocsin-adapter.so.$(SDK_REAL) \
		$(DESTDIR)$(LIBDIR)/pkgconfig/tocsin.pc \
		$(addprefix $(DESTDIR)$(INCLUDEDIR)/tocsin/,$(notdir $(SDK_HDRS))) \
		$(addprefix $(DESTDIR)$(DATADIR)/tocsin/schema/,$(notdir $(wildcard schema/*.sql))) \
		$(DESTDIR)$(MANDIR)/man1/tocsin.1 $(DESTDIR)$(MANDIR)/man8/tocsind.8 \
		$(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(wildcard \
			adapters/examples/*.py adapters/examples/*.c adapters/examples/*.csv))) \
		$(DESTDIR)$(SYSCONFDIR)/tocsin/tocsind.conf.sample \
		$(DESTDIR)$(UNITDIR)/tocsind.service $(DESTDIR)$(SYSUSERSDIR)/tocsin.conf
	rmdir $(DESTDIR)$(INCLUDEDIR)/tocsin $(DESTDIR)$(DATADIR)/tocsin/schema \
		$(DESTDIR)$(DATADIR)/tocsin $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/tocsin 2>/dev/null || true

# ---- the private PostgreSQL under ./var ---------------------------------------

pg-start:
	@scripts/pg.sh start
pg-stop:
	@scripts/pg.sh stop
pg-status:
	@scripts/pg.sh status

clean:
	rm -rf build build-*
