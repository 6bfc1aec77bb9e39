# prossntp: the two commands that matter are `make demo` and `make test`
# (`make check` is its fast tier);
# `make install PREFIX=... [DESTDIR=...]` installs the library (GNU make).
CARGO ?= cargo

# ---------------------------------------------------------------- install layout
PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
INSTALL ?= install
# Run after installing into the live system (no DESTDIR) as root on Linux; LDCONFIG=: skips it.
LDCONFIG ?= ldconfig
# WITH_TING=1 also installs libTiNG.so and libTiNG.a (links to this library),
# so programs built for Aculab's library relink unchanged with -lTiNG.
WITH_TING ?= 0

TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
RELEASE_DIR = $(TARGET_DIR)/release

# One source for the version: Cargo.toml. build.rs derives the soname (its
# major) and PROSSNTP_VERSION_* from it; tests/version.rs checks the headers,
# man pages and prossntp_version() against it.
VERSION := $(shell sed -n 's/^version = "\([0-9][0-9.]*\)"$$/\1/p' Cargo.toml | head -n 1)
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
VERSION_PATCH := $(word 3,$(subst ., ,$(VERSION)))
SONAME := libprossntp.so.$(VERSION_MAJOR)
REALNAME := libprossntp.so.$(VERSION)

.PHONY: all build demo check test header clean lib install uninstall man-lint

all: build

build:
	$(CARGO) build --release

# Test server on loopback serving true time + 0.25 s; the example measures it.
demo:
	scripts/demo.sh

# The fast tier (a few minutes): Rust unit and integration tests and the C
# harness, against chronyd and the test server, with CAP_SYS_TIME dropped in
# a loopback-only namespace.
check:
	scripts/check.sh

# Every test (what CI runs): the fast tier, then the cross-check, man pages,
# C examples, install, sanitizers, the VM and the benchmarks shortened.
test:
	scripts/test.sh

# Check the man pages: groff/mandoc warnings, a page per exported call,
# synopses equal to include/, examples compile.
man-lint:
	scripts/man-lint.sh

# Regenerate include/prossntp.h from src/ffi (commit the result).
header:
	PROSSNTP_BLESS_HEADER=1 $(CARGO) test --test header

clean:
	$(CARGO) clean
	rm -rf build

# The release libraries, and the system libraries a static link needs (rustc's
# native-static-libs note, replayed by cargo when nothing changed) for the
# Libs.private line of prossntp.pc.
lib:
	@if [ -z "$(VERSION_MAJOR)" ] || [ -z "$(VERSION_MINOR)" ] || [ -z "$(VERSION_PATCH)" ]; then \
		echo "make: no version in Cargo.toml" >&2; exit 1; fi
	$(CARGO) build --release --lib
	@log=$(RELEASE_DIR)/native-static-libs.log; \
	if ! $(CARGO) rustc --release --lib --crate-type staticlib -- --print native-static-libs 2>"$$log"; then \
		cat "$$log" >&2; exit 1; fi; \
	sed -n 's/^note: native-static-libs: //p' "$$log" | tail -n 1 | \
		tr ' ' '\n' | grep -vx -e '' -e '-lc' | tr '\n' ' ' | sed 's/ $$//' >$(RELEASE_DIR)/native-static-libs.txt; \
	if [ ! -s $(RELEASE_DIR)/native-static-libs.txt ]; then \
		echo "make: rustc printed no native-static-libs (see $$log)" >&2; exit 1; fi
	@soname=$$(readelf -d $(RELEASE_DIR)/libprossntp.so 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p'); \
	if command -v readelf >/dev/null && [ "$$soname" != "$(SONAME)" ]; then \
		echo "make: $(RELEASE_DIR)/libprossntp.so has soname '$$soname', expected $(SONAME) (build.rs)" >&2; exit 1; fi

# Installs (under DESTDIR, if set):
#   LIBDIR      libprossntp.so.X.Y.Z, links libprossntp.so.X and libprossntp.so,
#               libprossntp.a; with WITH_TING=1 also libTiNG.so and libTiNG.a
#   INCLUDEDIR  prossntp.h, prossntp_ext.h
#   PKGCONFIGDIR prossntp.pc (from prossntp.pc.in)
#   MANDIR      man/*.3 in man3, man/*.7 in man7
install: lib
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(RELEASE_DIR)/libprossntp.so $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sfn $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libprossntp.so
	$(INSTALL) -m 644 $(RELEASE_DIR)/libprossntp.a $(DESTDIR)$(LIBDIR)/libprossntp.a
	$(INSTALL) -m 644 include/prossntp.h include/prossntp_ext.h $(DESTDIR)$(INCLUDEDIR)/
	@libdir='$(LIBDIR)'; includedir='$(INCLUDEDIR)'; \
	case $$libdir in '$(PREFIX)'/*) libdir='$${prefix}'$${libdir#'$(PREFIX)'} ;; esac; \
	case $$includedir in '$(PREFIX)'/*) includedir='$${prefix}'$${includedir#'$(PREFIX)'} ;; esac; \
	echo "writing $(DESTDIR)$(PKGCONFIGDIR)/prossntp.pc"; \
	sed -e 's|@PREFIX@|$(PREFIX)|' -e "s|@LIBDIR@|$$libdir|" -e "s|@INCLUDEDIR@|$$includedir|" \
		-e 's|@VERSION@|$(VERSION)|' -e "s|@LIBS_PRIVATE@|$$(cat $(RELEASE_DIR)/native-static-libs.txt)|" \
		prossntp.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/prossntp.pc; \
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/prossntp.pc
	@set -e; for s in 3 7; do \
		for f in man/*.$$s; do \
			[ -f "$$f" ] || continue; \
			$(INSTALL) -d $(DESTDIR)$(MANDIR)/man$$s; \
			echo "$(INSTALL) -m 644 $$f $(DESTDIR)$(MANDIR)/man$$s/"; \
			$(INSTALL) -m 644 "$$f" $(DESTDIR)$(MANDIR)/man$$s/; \
		done; \
	done
ifeq ($(WITH_TING),1)
	@set -e; for pair in libTiNG.so:$(SONAME) libTiNG.a:libprossntp.a; do \
		link=$(DESTDIR)$(LIBDIR)/$${pair%%:*}; target=$${pair#*:}; \
		if [ -e "$$link" ] || [ -L "$$link" ]; then \
			if [ "$$(readlink "$$link")" != "$$target" ]; then \
				echo "make: $$link exists and is not prossntp's link to $$target (Aculab's library?): not replacing it" >&2; \
				exit 1; \
			fi; \
		fi; \
		echo "ln -sfn $$target $$link"; ln -sfn "$$target" "$$link"; \
	done
endif
	@if [ -z "$(DESTDIR)" ] && [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ]; then \
		echo "$(LDCONFIG)"; $(LDCONFIG) || true; fi

# Removes what install put there (libTiNG.* only when they are prossntp's links).
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libprossntp.so \
		$(DESTDIR)$(LIBDIR)/libprossntp.a $(DESTDIR)$(INCLUDEDIR)/prossntp.h $(DESTDIR)$(INCLUDEDIR)/prossntp_ext.h \
		$(DESTDIR)$(PKGCONFIGDIR)/prossntp.pc
	@for pair in libTiNG.so:$(SONAME) libTiNG.a:libprossntp.a; do \
		link=$(DESTDIR)$(LIBDIR)/$${pair%%:*}; \
		if [ -L "$$link" ] && [ "$$(readlink "$$link")" = "$${pair#*:}" ]; then echo "rm -f $$link"; rm -f "$$link"; fi; \
	done
	@for s in 3 7; do \
		for f in man/*.$$s; do \
			[ -f "$$f" ] || continue; \
			echo "rm -f $(DESTDIR)$(MANDIR)/man$$s/$${f##*/}"; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${f##*/}; \
		done; \
	done
	@if [ -z "$(DESTDIR)" ] && [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ]; then \
		echo "$(LDCONFIG)"; $(LDCONFIG) || true; fi
