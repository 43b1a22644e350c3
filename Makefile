# oobtb build, test and benchmark entry points. See README.md.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
TESTFLAGS ?= -race -timeout 20m

.PHONY: all build test unit bench fuzz lint clean

all: build

build:
	$(GO) build ./...

# The README's test command: lint, then every spec and test under the race
# detector (most packages own goroutines and sockets).
test: lint
	$(GO) test $(TESTFLAGS) $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

# Runs every fuzz target for FUZZTIME, one after another (go test -fuzz takes
# one target per invocation).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@out=$$(find . -name '*.go' -not -path './.git/*' -print0 | xargs -0 -r gofmt -l); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	$(GO) clean -testcache
