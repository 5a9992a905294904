# SPDX-License-Identifier: BSD-2-Clause
# Makefile - trackerd, trackerctl and their tests (GNU make, non-recursive)
#
# Knobs (command line or an ignored config.mk):
#   WERROR=1                 warnings are errors (CI)
#   SAN=address,undefined    sanitized build, objects in build-san/ unless O= is given
#   O=DIR                    object and binary directory (default build/)
#   V=1                      show full commands
#   PREFIX DESTDIR SBINDIR BINDIR MANDIR UNITDIR SYSUSERSDIR   install layout
#   NODEPS=1                 do not run the package check before run/check
-include config.mk

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/trackerd
PKG_CONFIG ?= pkg-config
UNITDIR    ?= $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null || echo /usr/lib/systemd/system)
SYSUSERSDIR ?= $(or $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d)
ifneq ($(SAN),)
O          ?= build-san
else
O          ?= build
endif

VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS       := liburing libsystemd liblz4 libmicrohttpd libseccomp
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wundef -Wvla -Wpointer-arith -Wcast-align -Wnull-dereference \
	-Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARN += -Werror
endif

T_LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,--as-needed
HARDEN    := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong \
	-fstack-clash-protection -fcf-protection
ifneq ($(SAN),)
HARDEN    := -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
T_LDFLAGS += -fsanitize=$(SAN)
endif

CFLAGS   ?= -O2 -g
LDFLAGS  ?=
T_CFLAGS := -std=gnu11 -D_GNU_SOURCE -I. -fPIE -DTRACKERD_VERSION='"$(VERSION)"' \
	$(WARN) $(HARDEN) $(PKG_CFLAGS)
Q        := $(if $(V),,@)
say       = $(if $(V),,@printf '  %-7s %s\n' $(1) $(2);)

# --- sources ---------------------------------------------------------------
# Every daemon/ and shm/ module except main.c goes into one static archive that
# trackerd, the tools and the unit tests link; the linker pulls only what each
# program uses, so a unit test links exactly its module and its dependencies.
SHM_SRCS    := $(sort $(wildcard shm/*.c))
DAEMON_SRCS := $(filter-out daemon/main.c,$(sort $(wildcard daemon/*.c)))
LIB_OBJS    := $(patsubst %.c,$(O)/%.o,$(SHM_SRCS) $(DAEMON_SRCS))
LIB         := $(O)/libtrackerd.a
CTL_SRCS    := $(sort $(wildcard ctl/*.c))
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TOOL_SRCS   := $(filter-out tests/tools/trackerbench.c,$(sort $(wildcard tests/tools/*.c)))
TOOL_BINS   := $(patsubst tests/tools/%.c,$(O)/tests/%,$(TOOL_SRCS))
HEADERS     := $(sort $(wildcard daemon/*.h shm/*.h ctl/*.h))
INTEG_TESTS := $(sort $(wildcard tests/integration/[0-9]*.sh))
MANPAGES    := $(sort $(wildcard man/*.[1-8]))
UNITS       := $(sort $(wildcard systemd/*.service systemd/*.socket))

BINS := $(O)/trackerd $(O)/trackerctl $(if $(wildcard tests/tools/trackerbench.c),$(O)/trackerbench)

all: $(BINS) $(TOOL_BINS)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(T_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(O)/trackerd: $(O)/daemon/main.o $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(T_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(O)/trackerctl: $(patsubst %.c,$(O)/%.o,$(CTL_SRCS))
	$(call say,LD,$@)
	$(Q)$(CC) $(T_LDFLAGS) $(LDFLAGS) -o $@ $^

# The load generator ships with the daemon (operators size machines with it).
$(O)/trackerbench: $(O)/tests/tools/trackerbench.o $(LIB)
	$(call say,LD,$@)
	$(Q)$(CC) $(T_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -lpthread

# Unit tests: one cmocka binary per module.
$(O)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(T_CFLAGS) $(CMOCKA_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(O)/tests/test_%: $(O)/tests/unit/test_%.o $(LIB)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(T_LDFLAGS) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(PKG_LIBS) -lm -lpthread

# test_ctlsrv also runs the built trackerctl against its in-process server.
$(O)/tests/test_ctlsrv: | $(O)/trackerctl

# Test tools and benchmarks (test client, load generator, store benchmark).
$(O)/tests/%: $(O)/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(T_LDFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm -lpthread

# --- checks ------------------------------------------------------------------
# Every header compiles on its own.
$(O)/headers/%.ok: %.h
	@mkdir -p $(@D)
	$(call say,HDR,$<)
	$(Q)echo '#include "$<"' | $(CC) $(T_CFLAGS) $(CPPFLAGS) -x c -fsyntax-only - && touch $@

HEADER_OKS := $(patsubst %.h,$(O)/headers/%.ok,$(HEADERS))

check-headers: $(HEADER_OKS)

# shm/ never includes daemon/; ctl/ includes only ctl/ (and shm/counters.h).
check-layering:
	@bad=$$(grep -nE '#include +"daemon/' shm/*.[ch] 2>/dev/null; \
		grep -nE '#include +"(daemon|shm)/' ctl/*.[ch] 2>/dev/null | grep -v 'shm/counters.h'); \
	if [ -n "$$bad" ]; then echo "layering violation:"; echo "$$bad"; exit 1; fi; \
	echo "  LAYER   ok"

lint-man:
	@test -z "$(MANPAGES)" || { mandoc -Tlint -Wwarning $(MANPAGES) && echo "  MAN     ok ($(words $(MANPAGES)) pages)"; }

# The documentation must not drift from the code: every config key and
# every trackerctl command appears in its man page.
check-docs: $(O)/trackerd
	$(Q)sh tests/check-docs.sh $(O)

check-unit: $(UNIT_BINS)
	$(Q)sh tests/run-unit.sh $(UNIT_BINS)

check-integration: $(BINS) $(TOOL_BINS)
	$(Q)O=$(O) sh tests/run-integration.sh $(INTEG_TESTS)

check: deps
	$(Q)$(MAKE) --no-print-directory check-build
	$(Q)$(MAKE) --no-print-directory check-headers check-layering lint-man check-docs
	$(Q)sh tests/summary.sh begin
	$(Q)$(MAKE) --no-print-directory -k check-unit check-integration; rc=$$?; \
		sh tests/summary.sh end; exit $$rc

check-build: all $(UNIT_BINS)

format-check:
	$(Q)clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]') \
		&& echo "  FORMAT  ok"

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

# --- running -----------------------------------------------------------------
deps:
ifneq ($(NODEPS),1)
	$(Q)sh mk/deps.sh
endif

run: deps
	$(Q)$(MAKE) --no-print-directory $(O)/trackerd
	exec $(O)/trackerd $(RUNARGS)

bench-store: $(O)/tests/bench_store
	$(O)/tests/bench_store $(BENCHARGS)

# CPU time of a worker's request path per request, in-process, no sockets.
bench-worker: $(O)/tests/bench_worker
	$(O)/tests/bench_worker $(BENCHARGS)

# Throughput against the echo ceiling and opentracker with the shared kit
# (BENCH_KIT, default ../shared/bench), copied into the build directory
# because the kit may be read-only. One worker, pinned beside the generator,
# once per backend in BENCH_BACKENDS; BENCH_ARGS go to compare.sh.
BENCH_KIT      ?= ../shared/bench
BENCH_ROUNDS   ?= 4
BENCH_BACKENDS ?= io_uring mmsg
BENCH_ARGS     ?=
BENCH_TRACKERD  = $(CURDIR)/$(O)/trackerd -o workers=1 -o listen_ipv4={HOST}:{PORT} \
	-o listen_ipv6=none -o control_socket=/tmp/trackerd-bench-{PORT}/ctl.sock \
	-o state_directory=/tmp/trackerd-bench-{PORT} -o user=root -o snapshot_interval=0
bench-compare: $(O)/trackerd
	@test -d $(BENCH_KIT) || { echo "bench-compare: no kit at $(BENCH_KIT)"; exit 1; }
	rm -rf $(O)/bench-kit && mkdir -p $(O)/bench-kit $(O)/bench-results
	cp $(BENCH_KIT)/*.c $(BENCH_KIT)/*.sh $(BENCH_KIT)/Makefile $(O)/bench-kit/
	$(MAKE) -C $(O)/bench-kit >/dev/null
	cd $(O)/bench-kit && ./compare.sh --rounds $(BENCH_ROUNDS) \
		--out $(CURDIR)/$(O)/bench-results/$$(date +%Y%m%d-%H%M%S) \
		$(foreach b,$(BENCH_BACKENDS),--extra '$(BENCH_TRACKERD) -o io_backend=$(b)' \
			--extra-name trackerd-$(b)) $(BENCH_ARGS)

# --- fuzzing (clang + libFuzzer) -------------------------------------------------
# Each tests/fuzz/fuzz_NAME.c is linked with the library built for fuzzing and
# run from its seed corpus tests/fuzz/corpus/NAME/ for FUZZ_SECONDS each.
# A crash, leak or sanitizer report fails the target; the input that caused it
# is left in $(FUZZ_O)/ and belongs in the corpus once fixed.
FUZZ_O       ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_O)/%,$(FUZZ_SRCS))
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all

fuzz-build:
	$(Q)$(MAKE) --no-print-directory O=$(FUZZ_O) CC=clang SAN= \
		HARDEN='$(FUZZ_CFLAGS)' CFLAGS= $(FUZZ_O)/libtrackerd.a
	$(Q)for f in $(FUZZ_SRCS); do \
		n=$${f##*/}; n=$${n%.c}; \
		$(if $(V),,echo "  FUZZLD  $(FUZZ_O)/$$n";) \
		clang -std=gnu11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
			-fno-sanitize-recover=all $(PKG_CFLAGS) -o $(FUZZ_O)/$$n $$f \
			$(FUZZ_O)/libtrackerd.a $(PKG_LIBS) -lm -lpthread || exit 1; \
	done

fuzz: fuzz-build
	$(Q)rc=0; for f in $(FUZZ_SRCS); do \
		n=$${f##*/}; n=$${n%.c}; c=tests/fuzz/corpus/$${n#fuzz_}; \
		w=$(FUZZ_O)/corpus-$${n#fuzz_}; rm -rf $$w; mkdir -p $$w; \
		echo "  FUZZ    $$n for $(FUZZ_SECONDS)s (seeds: $$c)"; \
		if ! ( cd $(FUZZ_O) && ./$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 corpus-$${n#fuzz_} ../$$c \
			> $$n.log 2>&1 ); then \
			echo "  FAIL    $$n: see $(FUZZ_O)/$$n.log"; tail -n 40 $(FUZZ_O)/$$n.log; rc=1; \
		else \
			grep -E '^stat::number_of_executed_units' $(FUZZ_O)/$$n.log | sed "s/^/  $$n: /"; \
		fi; \
	done; exit $$rc

# The whole test suite again, built with AddressSanitizer and UBSan.
check-san:
	$(Q)$(MAKE) --no-print-directory SAN=address,undefined O=build-san check

# --- valgrind and static analysis ------------------------------------------------
# Unit tests and these integration scripts under valgrind memcheck (mmsg
# backend; see tests/run-valgrind.sh for what counts as an error).
VALGRIND_TESTS ?= 010-connect 020-announce 030-scrape 050-malformed 060-ctl 090-reload
check-valgrind: deps
	$(Q)$(MAKE) --no-print-directory check-build
	$(Q)sh tests/summary.sh begin
	$(Q)O=$(O) sh tests/run-valgrind.sh $(UNIT_BINS) -- \
		$(patsubst %,tests/integration/%.sh,$(VALGRIND_TESTS)); rc=$$?; \
		sh tests/summary.sh end; exit $$rc

# clang-tidy (checks in .clang-tidy) and cppcheck over the C sources; both
# must be silent. cppcheck's suppressions, each with its reason, are inline
# (cppcheck-suppress) or in tests/cppcheck.supp.
LINT_SRCS  := $(SHM_SRCS) $(DAEMON_SRCS) daemon/main.c $(CTL_SRCS) \
	$(sort $(wildcard tests/tools/*.c tests/fuzz/*.c))
TIDY_FLAGS := -std=gnu11 -D_GNU_SOURCE -I. -DTRACKERD_VERSION=\"$(VERSION)\" $(PKG_CFLAGS)
LINT_JOBS  ?= 2

lint: lint-cppcheck lint-tidy

lint-cppcheck:
	$(Q)cppcheck -q --enable=warning,performance,portability --error-exitcode=1 \
		--inline-suppr --suppressions-list=tests/cppcheck.supp -I. --std=c11 \
		-D_GNU_SOURCE -j$(LINT_JOBS) $(LINT_SRCS) && echo "  CPPCHECK ok ($(words $(LINT_SRCS)) files)"

lint-tidy:
	$(Q)printf '%s\n' $(LINT_SRCS) | xargs -P$(LINT_JOBS) -n4 sh -c \
		'clang-tidy --quiet "$$@" -- $(TIDY_FLAGS) 2>/dev/null' clang-tidy \
		&& echo "  TIDY    ok ($(words $(LINT_SRCS)) files)"

# --- install -----------------------------------------------------------------
install: $(BINS)
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(O)/trackerd $(DESTDIR)$(SBINDIR)/trackerd
	install -m 0755 $(O)/trackerctl $(DESTDIR)$(BINDIR)/trackerctl
	install -m 0755 $(O)/trackerbench $(DESTDIR)$(BINDIR)/trackerbench
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8
	for m in $(MANPAGES); do \
		s=$${m##*.}; \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' $$m > $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; \
		chmod 0644 $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; \
	done
	install -d -m 0755 $(DESTDIR)$(DOCDIR)
	install -m 0644 trackerd.conf.example README.md $(DESTDIR)$(DOCDIR)/
	@if [ -n "$(UNITS)" ]; then \
		install -d -m 0755 $(DESTDIR)$(UNITDIR); \
		for u in $(UNITS); do \
			sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/}; \
			chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/}; \
		done; \
	fi
	@if [ -f systemd/sysusers.d-trackerd.conf ]; then \
		install -D -m 0644 systemd/sysusers.d-trackerd.conf $(DESTDIR)$(SYSUSERSDIR)/trackerd.conf; \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/trackerd $(DESTDIR)$(BINDIR)/trackerctl $(DESTDIR)$(BINDIR)/trackerbench
	rm -rf $(DESTDIR)$(DOCDIR)
	for m in $(MANPAGES); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; done
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$${u##*/}; done
	rm -f $(DESTDIR)$(SYSUSERSDIR)/trackerd.conf

clean:
	rm -rf build build-san build-fuzz

.PHONY: all check check-build check-unit check-integration check-headers check-layering \
	lint-man check-docs format-check format deps run bench-store bench-worker install uninstall \
	clean \
	fuzz fuzz-build check-san bench-compare check-valgrind lint lint-cppcheck lint-tidy

# Keep test objects: they are intermediates of pattern chains.
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)
