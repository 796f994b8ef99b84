#!/usr/bin/env bash
# End-to-end: drive a real `gantry server` with the AWS CLI, as a user would.
# Runs the same lifecycle with every AWS CLI found: the one on PATH (often
# aws-cli 1.x with current models) and Debian's /usr/bin/aws (2.9.19, an older
# ECS model). Every call passes --endpoint-url; HTTPS_PROXY points nowhere so
# that a call that would leave this machine fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GANTRY_BIN:-bin/gantry}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/gantry

export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY= NO_PROXY=127.0.0.1,localhost
export AWS_ACCESS_KEY_ID=AKIDE2E AWS_SECRET_ACCESS_KEY=e2e-secret AWS_PAGER= AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP=http://127.0.0.1:$port
"$BIN" server --listen 127.0.0.1:$port --data-dir "$work/data" --access-key AKIDE2E:e2e-secret --log-level warn 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -fs "$EP/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

passed=0 failed=0
ok()   { passed=$((passed+1)); }
fail() { failed=$((failed+1)); echo "FAIL [$CLI_NAME] $*" >&2; }

# expect_eq DESC WANT GOT
expect_eq() { if [ "$2" == "$3" ]; then ok; else fail "$1: want '$2', got '$3'"; fi; }
# expect_error DESC CODE -- aws args...: the call must fail with CODE.
expect_error() {
	local desc=$1 code=$2; shift 3
	local err
	if err=$(aws_ "$@" 2>&1 >/dev/null); then fail "$desc: succeeded, want $code"; return; fi
	if [[ "$err" == *"($code)"* ]]; then ok; else fail "$desc: want $code, got: $err"; fi
}

aws_() { "$CLI" --endpoint-url "$EP" --region "$REGION" --output text "$@"; }

has_command() { "$CLI" ecs "$1" help >/dev/null 2>&1; }

suite() {
	local c=e2e-cluster
	# Clusters.
	expect_eq "create-cluster" "ACTIVE" "$(aws_ ecs create-cluster --cluster-name $c --tags key=env,value=test --query cluster.status)"
	expect_eq "create-cluster again is idempotent" "arn:aws:ecs:$REGION:000000000000:cluster/$c" "$(aws_ ecs create-cluster --cluster-name $c --query cluster.clusterArn)"
	expect_eq "list-clusters" "arn:aws:ecs:$REGION:000000000000:cluster/$c" "$(aws_ ecs list-clusters --query 'clusterArns[0]')"
	expect_eq "describe-clusters missing" "MISSING" "$(aws_ ecs describe-clusters --clusters nope --query 'failures[0].reason')"
	expect_eq "describe-clusters tags" "test" "$(aws_ ecs describe-clusters --clusters $c --include TAGS --query 'clusters[0].tags[0].value')"
	expect_eq "update-cluster-settings" "enabled" "$(aws_ ecs update-cluster-settings --cluster $c --settings name=containerInsights,value=enabled --query 'cluster.settings[0].value')"
	expect_error "create-cluster bad name" InvalidParameterException -- ecs create-cluster --cluster-name "bad name"
	expect_error "delete-cluster missing" ClusterNotFoundException -- ecs delete-cluster --cluster nope
	for i in 1 2 3 4 5; do aws_ ecs create-cluster --cluster-name "page-$i" >/dev/null; done
	expect_eq "list-clusters paginates" "6" "$(aws_ ecs list-clusters --page-size 2 --query 'length(clusterArns)' | awk '{s+=$1} END {print s}')"

	[ "$(type -t suite_more)" = function ] && suite_more

	# Delete.
	expect_eq "delete-cluster" "INACTIVE" "$(aws_ ecs delete-cluster --cluster $c --query cluster.status)"
	expect_error "delete-cluster twice" ClusterNotFoundException -- ecs delete-cluster --cluster $c
}

clis=()
if command -v aws >/dev/null 2>&1 && [ "$(command -v aws)" != /usr/bin/aws ]; then clis+=("$(command -v aws)"); fi
[ -x /usr/bin/aws ] && clis+=(/usr/bin/aws)
[ ${#clis[@]} -gt 0 ] || { echo "e2e: no AWS CLI found (run scripts/setup.sh)"; exit 1; }

n=0
for CLI in "${clis[@]}"; do
	n=$((n+1))
	CLI_NAME="$("$CLI" --version 2>&1 | cut -d' ' -f1)"
	REGION="e2e-region-$n"
	echo "e2e: $CLI_NAME ($CLI) against $EP"
	suite
done

echo "e2e-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
