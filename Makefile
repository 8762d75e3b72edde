# ngx_bedrock: build, run and test.
#
#   make                 build the module (.so) and bin/bedrock-tokens
#   make run             install what is missing, build, start the gateway
#   make test            install what is missing, build, run the whole suite
#   make bench           run the benchmarks (bench/README.md)
#   make reliability     the long checks: valgrind, ASan, stress, fuzzing
#                        (docs/reliability.md)
#   make clean           remove everything built
#
# NGINX_SRC names the nginx source tree to build against (default: Debian's
# nginx-dev tree); NGINX_CONFIGURE_ARGS adds configure arguments for it.

NGINX_SRC            ?= /usr/share/nginx/src
NGINX_CONFIGURE_ARGS ?=
NGINX_BIN            ?= /usr/sbin/nginx
BUILD                ?= build

CC          ?= cc
FUZZ_CC     ?= clang
FUZZ_SECONDS ?= 10

NGX_DIR     := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_http_bedrock_module.so
SRC_DIR     := ngx_bedrock_module
SOURCES     := config $(wildcard $(SRC_DIR)/*.c $(SRC_DIR)/*.h)

# the parts in pure C (no nginx types): unit-tested, fuzzed, benchmarked
PURE_SRCS   := $(wildcard $(SRC_DIR)/ngx_bedrock_*.c)
PURE_HDRS   := $(wildcard $(SRC_DIR)/ngx_bedrock_*.h)
PURE_CFLAGS := -std=gnu99 -g -Wall -Wextra -Wno-unused-parameter -Werror \
               -I$(SRC_DIR)
PURE_LIBS   := -lcjson -lcrypto -lm
ASAN        := -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer

UNIT_BINS   := $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/*_test.c))
FUZZ_BINS   := $(patsubst t/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard t/fuzz/fuzz_*.c))

PROVE_ENV   := TEST_NGINX_BINARY=$(NGINX_BIN) \
               TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) \
               BEDROCK_BUILD=$(CURDIR)/$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS)
PROVE       := prove -I t/runner -I t/lib
T           ?= t/*.t t/runner/t/*.t

.PHONY: all run test unit fuzz bench clean deps-build deps-run deps-test \
        deps-bench FORCE

all: $(MODULE) bin/bedrock-tokens

# -- the module --------------------------------------------------------

# reconfigure when the tree or its arguments change, not on every build
$(BUILD)/nginx-src.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo "$(NGINX_SRC) $(NGINX_CONFIGURE_ARGS)" > $@.new
	@cmp -s $@.new $@ || mv $@.new $@
	@rm -f $@.new

$(NGX_DIR)/objs/Makefile: $(BUILD)/nginx-src.stamp config util/configure-nginx
	util/configure-nginx "$(NGINX_SRC)" "$(NGX_DIR)" $(NGINX_CONFIGURE_ARGS)

$(MODULE): $(NGX_DIR)/objs/Makefile $(SOURCES)
	@echo "building $@"
	$(MAKE) -s -C $(NGX_DIR) -f objs/Makefile modules
	@# a new file, not an overwrite: a running nginx maps the old one
	cp $(NGX_DIR)/objs/ngx_http_bedrock_module.so $@.new
	mv -f $@.new $@

# -- the pure-C parts, the CLI, unit tests and fuzz targets --------------

$(BUILD)/pure/%.o: $(SRC_DIR)/%.c $(PURE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(PURE_CFLAGS) -O2 -c -o $@ $<

$(BUILD)/pure-asan/%.o: $(SRC_DIR)/%.c $(PURE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC ASAN $<"
	@$(CC) $(PURE_CFLAGS) -O1 $(ASAN) -c -o $@ $<

$(BUILD)/libbedrock.a: $(PURE_SRCS:$(SRC_DIR)/%.c=$(BUILD)/pure/%.o)
	@ar rcs $@ $^

$(BUILD)/libbedrock-asan.a: $(PURE_SRCS:$(SRC_DIR)/%.c=$(BUILD)/pure-asan/%.o)
	@ar rcs $@ $^

bin/bedrock-tokens: util/bedrock-tokens.c $(BUILD)/libbedrock.a $(PURE_HDRS)
	@mkdir -p bin
	@echo "  LINK    $@"
	@$(CC) $(PURE_CFLAGS) -O2 -o $@ $< $(BUILD)/libbedrock.a $(PURE_LIBS)

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h t/unit/compress_check.h \
                 $(BUILD)/libbedrock-asan.a
	@mkdir -p $(dir $@)
	@echo "  UNIT    $@"
	@$(CC) $(PURE_CFLAGS) -O1 $(ASAN) -It/unit -o $@ $< \
	    $(BUILD)/libbedrock-asan.a $(PURE_LIBS)

unit: $(UNIT_BINS)

$(BUILD)/fuzz/%: t/fuzz/%.c t/unit/compress_check.h $(PURE_SRCS) $(PURE_HDRS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(PURE_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all \
	    -o $@ $< $(PURE_SRCS) $(PURE_LIBS)

fuzz: $(FUZZ_BINS)

# -- what a user runs ----------------------------------------------------

deps-build deps-run deps-test deps-bench:
	@util/install-deps $(@:deps-%=%)

run: deps-run
	@$(MAKE) --no-print-directory all
	util/run

test: deps-test
	@$(MAKE) --no-print-directory all unit fuzz
	$(PROVE_ENV) tini -s -- $(PROVE) $(T)

bench: deps-bench
	@$(MAKE) --no-print-directory all
	bench/run

clean:
	rm -rf $(BUILD) bin t/servroot*

# -- reliability: owned by the reliability suite --
#
#   make reliability     the long parts of the reliability suite, in turn:
#   make valgrind        the Test::Nginx suites with nginx under valgrind
#   make asan            the suites on nginx and the module built with ASan
#                        from an nginx source tree (NGINX_SRC, or
#                        ASAN_NGINX_SRC with make reliability)
#   make stress          t/082-load-faults.t, larger and longer
#   make fuzz-long       each fuzz target for FUZZ_LONG_SECONDS
#
# docs/reliability.md says what each checks and what it measured.

ASAN_NGINX_SRC    ?= $(NGINX_SRC)
FUZZ_LONG_SECONDS ?= 600

.PHONY: reliability valgrind asan stress fuzz-long

reliability: valgrind asan stress fuzz-long

valgrind: deps-test
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) util/valgrind-suite

asan: deps-test
	BUILD=$(BUILD) util/asan-nginx "$(ASAN_NGINX_SRC)"

stress: deps-test
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) util/stress

fuzz-long: deps-test
	@$(MAKE) --no-print-directory fuzz
	BEDROCK_BUILD=$(CURDIR)/$(BUILD) FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) \
	    tini -s -- $(PROVE) -v t/004-fuzz.t

# -- end of reliability --

FORCE:
