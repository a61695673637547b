#!/bin/bash
# go.sh - the Go toolchain for bindings/go, offline and outside the tree:
#   go.sh SRCDIR test OUTPUT        the package's test binary (go test -c)
#   go.sh SRCDIR node-agent OUTPUT  the example node agent
#   go.sh SRCDIR run BINARY ARGS... run a built binary (for meson's test())
#   go.sh SRCDIR fuzz WORKDIR SECONDS
#                                   go test -fuzz FuzzDecodeReply for SECONDS
#                                   (DELEGATE_FUZZ_SECONDS overrides) on a copy
#                                   of the package in WORKDIR, in TAP
# Nothing is downloaded (GOPROXY=off, GOFLAGS=-mod=mod, GOTOOLCHAIN=local:
# the module has no dependencies) and nothing is written into the source
# tree: the build cache lives in $DELEGATE_GO_CACHE, by default
# /var/cache/delegate-tests/go (or a per-user directory under $TMPDIR when
# that is not writable).
set -euo pipefail
src=$(realpath "$1") what=$2
cache=${DELEGATE_GO_CACHE:-/var/cache/delegate-tests/go}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
        cache=${TMPDIR:-/tmp}/delegate-go-cache-$(id -u)
        mkdir -p "$cache"
fi
export GOCACHE=$cache/build GOPATH=$cache/path GOMODCACHE=$cache/path/pkg/mod
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off GO111MODULE=on CGO_ENABLED=0
case $what in
test)
        out=$(realpath -m "$3")
        cd "$src" && exec go test -c -o "$out" . ;;
node-agent)
        out=$(realpath -m "$3")
        cd "$src" && exec go build -o "$out" ./cmd/node-agent ;;
run)
        shift 2
        exec "$@" ;;
fuzz)
        work=$(realpath -m "$3") secs=${DELEGATE_FUZZ_SECONDS:-$4}
        rm -rf "$work"
        mkdir -p "$work/src"
        cp "$src"/go.mod "$src"/*.go "$work/src/"
        export DELEGATE_VECTORS=$src/../../tests/conformance/vectors.json
        echo "1..1"
        cd "$work/src"
        if go test -run '^$' -fuzz '^FuzzDecodeReply$' -fuzztime "${secs}s" . >"$work/log" 2>&1; then
                echo "ok 1 - go FuzzDecodeReply: $(grep -o 'execs: [0-9]*' "$work/log" | tail -1) in ${secs} s, no finding"
                exit 0
        fi
        tail -n 60 "$work/log" | sed 's/^/# /'
        echo "not ok 1 - go FuzzDecodeReply found a failing input (see $work/log, $work/src/testdata)"
        exit 1 ;;
*)
        echo "go.sh: unknown action '$what'" >&2
        exit 2 ;;
esac
