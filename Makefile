# prossntp: the two commands that matter are `make demo` and `make test`.
CARGO ?= cargo

.PHONY: all build demo test header clean

all: build

build:
	$(CARGO) build --release

# Test server on loopback serving true time + 0.25 s; the example measures it.
demo:
	scripts/demo.sh

# Every test: Rust unit and integration tests, the C harness, against chronyd
# and the test server, with CAP_SYS_TIME dropped in a loopback-only namespace.
test:
	scripts/test.sh

# Regenerate include/prossntp.h from src/ffi (commit the result).
header:
	PROSSNTP_BLESS_HEADER=1 $(CARGO) build

clean:
	$(CARGO) clean
	rm -rf build
