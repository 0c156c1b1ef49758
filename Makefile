# rwproxy — one plain Makefile.
#   make            build bin/rwproxy and bin/rwproxyctl
#   make test       unit tests (cmocka) + integration tests (pytest, real MariaDB servers)
#   make test-e2e   the example Tomcat/JDBC webapp on a real Tomcat 10 through rwproxy (tests/e2e)
#   make asan       build with ASan+UBSan into build-asan/ and run every test against it
#   make valgrind   build into build-valgrind/ (-O1 -g) and run every unit test under memcheck
#   make run/stop   start/stop the local sandbox (MariaDB master + 2 replicas) and rwproxy
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench      sysbench through rwproxy, HAProxy and directly (bench/)
#   make deps       install missing Debian packages (or print the apt-get line)
#   make man        man pages from docs/*.[15].md with pandoc into $(BUILD)/man
#   make install    binaries, man pages, example config, systemd unit (PREFIX, DESTDIR)

CC      ?= cc
BUILD   ?= build
BIN     ?= bin
PYTHON  ?= /usr/bin/python3
PYTEST_ARGS ?=
FUZZ_SECONDS ?= 60

WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
SAN     ?=
INC     := -I. -I/usr/include/mariadb
CFLAGS_ALL := $(CSTD) $(OPT) $(WARN) $(SAN) $(INC) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(SAN) $(EXTRA_LDFLAGS)

LIBS_PROTO  := -lcrypto
LIBS_ROUTER := -lpcre2-8
LIBS_PROXY  := -luv -linih -lmariadb -lssl -lcrypto -lpthread -lpcre2-8
LIBS_CLI    := -lmariadb -lpthread -linih

PROTO_SRC  := $(sort $(wildcard protocol/*.c))
ROUTER_SRC := $(sort $(wildcard router/*.c))
PROXY_SRC  := $(filter-out proxy/main.c,$(sort $(wildcard proxy/*.c)))
CLI_SRC    := $(sort $(wildcard cli/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))

PROTO_OBJ  := $(PROTO_SRC:%.c=$(BUILD)/%.o)
ROUTER_OBJ := $(ROUTER_SRC:%.c=$(BUILD)/%.o)
PROXY_OBJ  := $(PROXY_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

RWPROXY    := $(BUILD)/bin/rwproxy
RWPROXYCTL := $(BUILD)/bin/rwproxyctl

.PHONY: all deps test unit integration test-multiplex-off test-e2e asan valgrind valgrind-unit run stop fuzz bench clean check-config check-compose man install uninstall

all: $(BUILD)/.deps-ok $(RWPROXY) $(if $(CLI_SRC),$(RWPROXYCTL))
ifeq ($(BUILD),build)
	@mkdir -p $(BIN)
	@cp -f $(RWPROXY) $(BIN)/rwproxy
	@$(if $(CLI_SRC),cp -f $(RWPROXYCTL) $(BIN)/rwproxyctl)
endif

# Checks the Debian packages once per build tree (installs them when run as root).
$(BUILD)/.deps-ok: scripts/deps.sh
	@mkdir -p $(BUILD)
	@bash scripts/deps.sh build
	@touch $@

deps:
	@bash scripts/deps.sh all

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/librwproto.a: $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/librwrouter.a: $(ROUTER_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^ $(if $(ROUTER_OBJ),,)

$(BUILD)/librwproxy.a: $(PROXY_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

CORE_LIBS := $(BUILD)/librwproxy.a $(if $(ROUTER_OBJ),$(BUILD)/librwrouter.a) $(BUILD)/librwproto.a

$(RWPROXY): $(BUILD)/proxy/main.o $(CORE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_PROXY)

$(RWPROXYCTL): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_CLI)

$(BUILD)/tests/%: tests/unit/%.c $(CORE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -o $@ $< $(CORE_LIBS) -lcmocka $(LIBS_PROXY) $(LDFLAGS_ALL)

# ---- tests ----
test: all unit integration

unit: $(BUILD)/.deps-ok $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: all
	RWPROXY_BIN=$(abspath $(RWPROXY)) RWPROXYCTL_BIN=$(abspath $(RWPROXYCTL)) RWPROXY_BUILD=$(BUILD) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

# The integration suite again with [pool] multiplex = off in every rwproxy it starts (unless
# a test sets the key itself): sessions keep their backend connections until they end.
test-multiplex-off: all
	RWPROXY_TEST_MULTIPLEX=off $(MAKE) integration

# End to end: the example Tomcat webapp (tests/e2e/tomcat) on a real Tomcat 10 through rwproxy.
test-e2e: all
	RWPROXY_BIN=$(abspath $(RWPROXY)) RWPROXYCTL_BIN=$(abspath $(RWPROXYCTL)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e $(PYTEST_ARGS)

# Everything again under AddressSanitizer + UndefinedBehaviorSanitizer, in its own tree.
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) BUILD=build-asan OPT="-O1 -g" SAN="$(ASAN_FLAGS)" unit integration

# Every unit test binary under valgrind's memcheck, in a tree without sanitizers. Fails on
# any memory error and on definite leaks.
VALGRIND_BUILD ?= build-valgrind
VALGRIND := valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite --quiet
valgrind:
	$(MAKE) BUILD=$(VALGRIND_BUILD) OPT="-O1 -g" SAN= valgrind-unit

valgrind-unit: $(BUILD)/.deps-ok $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== valgrind $$t"; $(VALGRIND) $$t; done

run:
	@bash scripts/run.sh

stop:
	@bash scripts/stop.sh

fuzz:
	@CSTD="$(CSTD)" WARN="$(WARN)" INC="$(INC)" FUZZ_TARGETS="$(FUZZ_TARGETS)" \
	  bash tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: all
	$(PYTHON) bench/bench.py --rwproxy $(abspath $(RWPROXY)) $(BENCH_ARGS)

check-config: all
	@for f in configs/*.ini configs/ha/*.ini docker/*.ini; do $(RWPROXY) --check --config $$f || exit 1; done

# docker-compose.yml, checked without a Docker engine (Debian package docker-compose).
check-compose:
	docker-compose -f docker-compose.yml config -q

# Man pages: docs/NAME.SECTION.md (pandoc Markdown) -> $(BUILD)/man/NAME.SECTION.
MAN_PAGES := $(BUILD)/man/rwproxy.1 $(BUILD)/man/rwproxyctl.1 $(BUILD)/man/rwproxy.ini.5
man: $(MAN_PAGES)

$(BUILD)/man/%: docs/%.md
	@mkdir -p $(dir $@)
	pandoc -s -t man $< -o $@

# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc if PREFIX=/usr, else PREFIX/etc]
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
INSTALL_ENV = BUILD="$(BUILD)" PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" SYSCONFDIR="$(SYSCONFDIR)"
install: all man
	@$(INSTALL_ENV) bash packaging/install.sh install

uninstall:
	@$(INSTALL_ENV) bash packaging/install.sh uninstall

clean:
	rm -rf build build-asan build-valgrind bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
