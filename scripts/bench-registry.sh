#!/usr/bin/env bash
# Registry benchmark of issue 6: Gantry's registry beside the reference
# registry (github.com/distribution/distribution/v3 v3.1.2), side by side in
# one run on this machine, both on loopback.
#
# The reference registry is built from the Go module proxy in a throwaway
# module under a temporary directory: it is a benchmark-only peer, never a
# dependency of our module. It runs with filesystem storage in a temporary
# directory and no auth. `gantry server` (bin/gantry, from `make build`) runs
# on another port with a temporary data directory and an access key. The load
# client is BenchmarkRegistry in internal/bench (see its comment for the
# figures). Everything temporary, the pushed 1 GiB and 5 GiB layers included,
# is removed at exit.
#
# Usage: scripts/bench-registry.sh [extra go test flags]
# Environment:
#   BENCH_COUNT          rounds of every figure (default 3), the registries alternating
#   BENCH_LAYER_MIB      size of the push/pull layer (default 1024)
#   BENCH_BIG_LAYER_MIB  size of the layer pushed while RSS is measured (default 5120)
#   BENCH_CLIENTS        concurrent manifest GET clients (default 32)
#   BENCH_SECONDS        duration of the manifest GET load (default 5)
#   GANTRY_BIN           the gantry binary (default bin/gantry; built with `make build` if missing)
#   PEER_REGISTRY_BIN    a reference registry binary already built (skips the build)
#   BENCH_TMPDIR         where the temporary directory goes (default $TMPDIR or /tmp)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
peer_version=v3.1.2
count=${BENCH_COUNT:-3}
gantry_bin=${GANTRY_BIN:-$root/bin/gantry}

tmp=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/gantry-bench-registry.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*" >&2; }

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-60999)
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port" >&2
	return 1
}

# wait_http URL: until URL answers at all (any status), for up to 30 s.
wait_http() {
	for _ in $(seq 300); do
		if curl -s -o /dev/null "$1"; then
			return 0
		fi
		sleep 0.1
	done
	echo "$1 did not answer" >&2
	return 1
}

# The reference registry, built in a module of its own.
if [[ -n "${PEER_REGISTRY_BIN:-}" ]]; then
	peer_bin=$PEER_REGISTRY_BIN
else
	log "building github.com/distribution/distribution/v3/cmd/registry@$peer_version in $tmp/peer-mod"
	mkdir -p "$tmp/peer-mod"
	(
		cd "$tmp/peer-mod"
		export GOWORK=off GOFLAGS=
		go mod init peer >/dev/null 2>&1
		go get "github.com/distribution/distribution/v3/cmd/registry@$peer_version" >/dev/null 2>&1
		go build -o "$tmp/registry" github.com/distribution/distribution/v3/cmd/registry
	)
	peer_bin=$tmp/registry
fi

if [[ ! -x "$gantry_bin" ]]; then
	log "building $gantry_bin"
	make build >/dev/null
fi

# Reference registry: filesystem storage, no auth, logs quiet (its access log
# off), no tracing exporter.
peer_port=$(free_port)
mkdir -p "$tmp/peer-data"
cat >"$tmp/peer-config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/peer-data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$peer_port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
log "starting the reference registry on 127.0.0.1:$peer_port"
OTEL_TRACES_EXPORTER=none OTEL_SDK_DISABLED=true "$peer_bin" serve "$tmp/peer-config.yml" >"$tmp/peer.log" 2>&1 &
peer_pid=$!
pids+=("$peer_pid")

# Gantry: embedded etcd and blobs in a temporary data directory.
gantry_port=$(free_port)
while [[ "$gantry_port" == "$peer_port" ]]; do gantry_port=$(free_port); done
key="AKIDBENCHREGISTRY:bench-registry-secret"
log "starting gantry server on 127.0.0.1:$gantry_port"
"$gantry_bin" server --listen "127.0.0.1:$gantry_port" --data-dir "$tmp/gantry-data" \
	--access-key "$key" --log-level warn >"$tmp/gantry.log" 2>&1 &
gantry_pid=$!
pids+=("$gantry_pid")

wait_http "http://127.0.0.1:$peer_port/v2/" || { cat "$tmp/peer.log" >&2; exit 1; }
wait_http "http://127.0.0.1:$gantry_port/healthz" || { cat "$tmp/gantry.log" >&2; exit 1; }

log "machine: $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
export GANTRY_BENCH_REGISTRY="http://127.0.0.1:$gantry_port" GANTRY_BENCH_ACCESS_KEY="$key" GANTRY_BENCH_PID="$gantry_pid" \
	PEER_BENCH_REGISTRY="http://127.0.0.1:$peer_port" PEER_BENCH_PID="$peer_pid"
# One go test per round (not -count, which repeats each sub-benchmark in a
# row), so that the two registries alternate figure by figure.
for round in $(seq "$count"); do
	log "round $round of $count; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	BENCH_ROUND=$round go test -run '^$' -bench '^BenchmarkRegistry$' -benchtime 1x -count 1 -timeout 60m "$@" ./internal/bench/
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
