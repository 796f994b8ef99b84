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
simpids=()
cleanup() {
	kill "$server" ${devpid:-} "${simpids[@]}" 2>/dev/null || true
	wait "$server" ${devpid:-} "${simpids[@]}" 2>/dev/null || true
	docker ps -a --filter label=com.gantry.task-arn --format '{{.ID}} {{.Label "com.gantry.task-arn"}}' |
		awk '/:111111111111:/ {print $1}' | xargs -r docker rm -f >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
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

# until_eq WANT TRIES CMD...: runs CMD (its output's words joined by single
# spaces) until it prints WANT, at most TRIES times, 0.2 s apart.
until_eq() {
	local want=$1 tries=$2 got=; shift 2
	for _ in $(seq 1 "$tries"); do
		got=$("$@" 2>&1 | xargs)
		[ "$got" == "$want" ] && return 0
		sleep 0.2
	done
	echo "until_eq: want '$want', last got '$got'" >&2
	return 1
}

# wait_stable DESC DESIRED RUN --cluster C --services S: polls
# describe-services through RUN (aws_ or dev) until the service has one
# deployment and DESIRED tasks running, then runs `aws ecs wait
# services-stable`, which then succeeds at its first poll (Debian's aws
# 2.9.19 waits 15 s between polls).
wait_stable() {
	local desc=$1 want="1 $2 $2" run=$3; shift 3
	if ! until_eq "$want" 150 $run ecs describe-services "$@" --query 'services[0].[length(deployments), runningCount, desiredCount]'; then
		fail "$desc: the service never had one deployment and $2 tasks running"
		return
	fi
	if $run ecs wait services-stable "$@"; then ok; else fail "$desc: wait services-stable"; fi
}

# wait_inactive DESC RUN --cluster C --services S: as wait_stable, until
# the deleted service is INACTIVE, then `aws ecs wait services-inactive`.
wait_inactive() {
	local desc=$1 run=$2; shift 2
	if ! until_eq INACTIVE 150 $run ecs describe-services "$@" --query 'services[0].status'; then
		fail "$desc: the service never became INACTIVE"
		return
	fi
	if $run ecs wait services-inactive "$@"; then ok; else fail "$desc: wait services-inactive"; fi
}

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

	# Task definitions.
	local td=scripts/testdata/web-taskdef.json
	expect_eq "register-task-definition" "1" "$(aws_ ecs register-task-definition --cli-input-json file://$td --query taskDefinition.revision)"
	expect_eq "register again: revision 2" "2" "$(aws_ ecs register-task-definition --cli-input-json file://$td --query taskDefinition.revision)"
	expect_eq "cpu string normalised" "256" "$(aws_ ecs describe-task-definition --task-definition e2e-web --query taskDefinition.cpu)"
	expect_eq "family alone is the latest" "2" "$(aws_ ecs describe-task-definition --task-definition e2e-web --query taskDefinition.revision)"
	expect_eq "fields round-trip" "HEALTHY 2048 10m" "$(aws_ ecs describe-task-definition --task-definition e2e-web:1 --query 'taskDefinition.[containerDefinitions[1].dependsOn[0].condition, containerDefinitions[0].ulimits[0].hardLimit, containerDefinitions[0].logConfiguration.options."max-size"]' | xargs)"
	expect_eq "describe tags" "web" "$(aws_ ecs describe-task-definition --task-definition e2e-web:1 --include TAGS --query 'tags[0].value')"
	expect_eq "list-task-definitions" "2" "$(aws_ ecs list-task-definitions --family-prefix e2e-web --query 'length(taskDefinitionArns)')"
	expect_eq "list-task-definition-families" "e2e-web" "$(aws_ ecs list-task-definition-families --family-prefix e2e --query 'families[0]')"
	expect_eq "deregister-task-definition" "INACTIVE" "$(aws_ ecs deregister-task-definition --task-definition e2e-web:1 --query taskDefinition.status)"
	expect_eq "list INACTIVE" "arn:aws:ecs:$REGION:000000000000:task-definition/e2e-web:1" "$(aws_ ecs list-task-definitions --status INACTIVE --query 'taskDefinitionArns[0]')"
	if has_command delete-task-definitions; then
		expect_eq "delete-task-definitions" "DELETE_IN_PROGRESS" "$(aws_ ecs delete-task-definitions --task-definitions e2e-web:1 --query 'taskDefinitions[0].status')"
		expect_eq "revision never reused" "3" "$(aws_ ecs register-task-definition --cli-input-json file://$td --query taskDefinition.revision)"
	fi
	expect_error "describe unknown task definition" ClientException -- ecs describe-task-definition --task-definition nope:1
	expect_error "no essential container" ClientException -- ecs register-task-definition --family bad \
		--container-definitions '[{"name":"a","image":"x","memory":64,"essential":false}]'
	expect_error "Fargate size not in the table" ClientException -- ecs register-task-definition --family bad \
		--requires-compatibilities FARGATE --network-mode awsvpc --cpu 256 --memory 4096 \
		--container-definitions '[{"name":"a","image":"x"}]'

	# Container instances and attributes (as the agent registers them).
	local ci
	ci=$(aws_ ecs register-container-instance --cluster $c --total-resources name=CPU,type=INTEGER,integerValue=2048 name=MEMORY,type=INTEGER,integerValue=4096 \
		--attributes name=ecs.os-type,value=linux name=stack,value=prod --query containerInstance.containerInstanceArn)
	expect_eq "register-container-instance" "ACTIVE" "$(aws_ ecs describe-container-instances --cluster $c --container-instances "$ci" --query 'containerInstances[0].status')"
	expect_eq "list-container-instances" "$ci" "$(aws_ ecs list-container-instances --cluster $c --query 'containerInstanceArns[0]')"
	expect_eq "put-attributes" "color" "$(aws_ ecs put-attributes --cluster $c --attributes name=color,value=blue,targetId="$ci" --query 'attributes[0].name')"
	expect_eq "list-attributes" "blue" "$(aws_ ecs list-attributes --cluster $c --target-type container-instance --attribute-name color --query 'attributes[0].value')"
	expect_eq "drain" "DRAINING" "$(aws_ ecs update-container-instances-state --cluster $c --container-instances "$ci" --status DRAINING --query 'containerInstances[0].status')"
	expect_error "delete cluster with an instance" ClusterContainsContainerInstancesException -- ecs delete-cluster --cluster $c
	expect_error "put-attributes on unknown target" TargetNotFoundException -- ecs put-attributes --cluster $c --attributes name=color,value=red,targetType=container-instance,targetId=0123456789abcdef0123456789abcdef
	expect_eq "deregister-container-instance" "INACTIVE" "$(aws_ ecs deregister-container-instance --cluster $c --container-instance "$ci" --force --query containerInstance.status)"

	# Tags.
	local carn="arn:aws:ecs:$REGION:000000000000:cluster/$c"
	aws_ ecs tag-resource --resource-arn "$carn" --tags key=owner,value=ops >/dev/null
	expect_eq "tag-resource" "env owner" "$(aws_ ecs list-tags-for-resource --resource-arn "$carn" --query 'tags[].key' | xargs)"
	aws_ ecs untag-resource --resource-arn "$carn" --tag-keys env >/dev/null
	expect_eq "untag-resource" "owner" "$(aws_ ecs list-tags-for-resource --resource-arn "$carn" --query 'tags[].key' | xargs)"
	expect_error "aws: tag prefix" InvalidParameterException -- ecs tag-resource --resource-arn "$carn" --tags key=aws:x,value=y

	# Account settings.
	expect_eq "put-account-setting" "enabled" "$(aws_ ecs put-account-setting --name containerInsights --value enabled --query setting.value)"
	expect_eq "list-account-settings effective" "enabled" "$(aws_ ecs list-account-settings --name containerInsights --effective-settings --query 'settings[0].value')"
	aws_ ecs delete-account-setting --name containerInsights >/dev/null
	expect_eq "delete-account-setting falls back" "disabled" "$(aws_ ecs list-account-settings --name containerInsights --effective-settings --query 'settings[0].value')"
	expect_error "bad setting value" InvalidParameterException -- ecs put-account-setting --name containerInsights --value sometimes

	# Delete.
	expect_eq "delete-cluster" "INACTIVE" "$(aws_ ecs delete-cluster --cluster $c --query cluster.status)"
	expect_error "delete-cluster twice" ClusterNotFoundException -- ecs delete-cluster --cluster $c
}

# Tasks on real Docker and the registry: against `gantry dev` (control plane
# plus one in-process agent on the local Docker, key test/test).
suite_dev() {
	local D="$CLI --endpoint-url $DEV_EP --region us-east-1 --output text"
	dev() { env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test $D "$@"; }
	local fam="e2e-httpd-$n"
	sed "s/\"e2e-httpd\"/\"$fam\"/" scripts/testdata/httpd-taskdef.json >"$work/httpd-$n.json"
	dev ecs register-task-definition --cli-input-json "file://$work/httpd-$n.json" >/dev/null
	local task
	task=$(dev ecs run-task --task-definition "$fam" --query 'tasks[0].taskArn')
	if [[ "$task" != arn:aws:ecs:* ]]; then fail "run-task: got '$task'"; return; fi
	ok
	if dev ecs wait tasks-running --tasks "$task"; then ok; else fail "wait tasks-running"; fi
	local port
	port=$(dev ecs describe-tasks --tasks "$task" --query 'tasks[0].containers[0].networkBindings[0].hostPort')
	expect_eq "curl the task on its host port" "hello from gantry" "$(curl -fsS --noproxy '*' "http://127.0.0.1:$port/" 2>&1)"
	expect_eq "docker ps names the family" "1" "$(docker ps --filter "label=com.gantry.task-arn=$task" --format '{{.Names}}' | grep -c "$fam")"
	dev ecs stop-task --task "$task" --reason "e2e done" >/dev/null
	if dev ecs wait tasks-stopped --tasks "$task"; then ok; else fail "wait tasks-stopped"; fi
	expect_eq "stopped task" "STOPPED UserInitiated e2e done" "$(dev ecs describe-tasks --tasks "$task" --query 'tasks[0].[lastStatus,stopCode,stoppedReason]' | xargs)"

	# A service of one httpd task on Docker, then deleted with force.
	local svc="web-$n"
	local sargs=(--cluster default --services "$svc")
	expect_eq "create-service on Docker" "ACTIVE" "$(dev ecs create-service --service-name "$svc" --task-definition "$fam" --desired-count 1 --query service.status)"
	wait_stable "service on Docker" 1 dev "${sargs[@]}"
	task=$(dev ecs list-tasks --service-name "$svc" --query 'taskArns[0]')
	port=$(dev ecs describe-tasks --tasks "$task" --query 'tasks[0].containers[0].networkBindings[0].hostPort')
	expect_eq "curl the service's task" "hello from gantry" "$(curl -fsS --noproxy '*' "http://127.0.0.1:$port/" 2>&1)"
	expect_eq "delete-service --force on Docker" "DRAINING" "$(dev ecs delete-service --service "$svc" --force --query service.status)"
	wait_inactive "service on Docker deleted" dev "${sargs[@]}"
	expect_eq "the service's task stopped" "STOPPED ServiceSchedulerInitiated" "$(dev ecs describe-tasks --tasks "$task" --query 'tasks[0].[lastStatus,stopCode]' | xargs)"
	expect_eq "its container no longer runs" "0" "$(docker ps -q --filter "label=com.gantry.task-arn=$task" | wc -l | xargs)"
	dev ecs register-task-definition --family "secret-$n" \
		--container-definitions '[{"name":"a","image":"gantry-test/busybox:latest","memory":32,"secrets":[{"name":"X","valueFrom":"arn:aws:ssm:us-east-1:111111111111:parameter/x"}]}]' >/dev/null
	expect_error_dev "run-task with a field Gantry cannot honour" InvalidParameterException ecs run-task --task-definition "secret-$n"
	expect_error_dev "run-task unknown family" ClientException ecs run-task --task-definition "nope-$n"

	# The registry: docker login with the ECR token, push, describe.
	local repo="e2e/web-$n" reg="127.0.0.1:$DEV_PORT"
	dev ecr create-repository --repository-name "$repo" >/dev/null
	export DOCKER_CONFIG="$work/docker-$n"
	if dev ecr get-login-password | docker login --username AWS --password-stdin "$reg" >/dev/null 2>&1; then ok; else fail "docker login"; fi
	docker tag gantry-test/busybox:latest "$reg/$repo:v1"
	if docker push -q "$reg/$repo:v1" >/dev/null 2>&1; then ok; else fail "docker push"; fi
	expect_eq "describe-images" "v1" "$(dev ecr describe-images --repository-name "$repo" --query 'imageDetails[0].imageTags[0]')"
	local perr
	docker tag gantry-test/busybox:latest "$reg/e2e/ghost-$n:v1"
	perr=$(docker push "$reg/e2e/ghost-$n:v1" 2>&1 || true)
	if [[ "$perr" == *"does not exist in the registry"* ]]; then ok; else fail "push to a missing repository: $perr"; fi
	docker rmi "$reg/$repo:v1" "$reg/e2e/ghost-$n:v1" >/dev/null 2>&1 || true
	unset DOCKER_CONFIG
}

# Placement through the CLI on a simulated fleet (`gantry agent --runtime sim`):
# six instances in zones a, b, c against the server above.
suite_sim() {
	local c=sim-$n fam=sim-app-$n
	aws_ ecs create-cluster --cluster-name $c >/dev/null
	"$BIN" agent --runtime sim --instances 6 --zones a,b,c --cpu 4096 --memory 8192 --cluster $c --endpoint "$EP" \
		--region "$REGION" --data-dir "$work/sim-$n" --access-key AKIDE2E:e2e-secret --log-level warn 2>"$work/sim-$n.log" &
	simpids+=($!)
	local up=0
	for _ in $(seq 1 200); do
		up=$(aws_ ecs list-container-instances --cluster $c --filter 'agentConnected == true' --query 'length(containerInstanceArns)')
		[ "$up" == 6 ] && break
		sleep 0.1
	done
	expect_eq "six simulated instances connected" "6" "$up"
	aws_ ecs register-task-definition --family $fam --container-definitions '[{"name":"app","image":"sim/app:1","memory":128,"cpu":64}]' >/dev/null
	expect_eq "spread over zones" "2 2 2" "$(aws_ ecs run-task --cluster $c --task-definition $fam --count 6 --group zoned \
		--placement-strategy type=spread,field=attribute:ecs.availability-zone --query 'tasks[].availabilityZone' | tr '\t' '\n' | sort | uniq -c | awk '{print $1}' | xargs)"
	expect_eq "distinctInstance" "6 DistinctInstance placement constraint unsatisfied." "$(aws_ ecs run-task --cluster $c --task-definition $fam --count 8 \
		--group one-each --placement-constraints type=distinctInstance --query '[length(tasks), failures[0].reason]' | xargs)"
	expect_eq "memberOf one zone" "b" "$(aws_ ecs run-task --cluster $c --task-definition $fam --count 4 \
		--placement-constraints '[{"type":"memberOf","expression":"attribute:ecs.availability-zone == b"}]' \
		--query 'tasks[].availabilityZone' | tr '\t' '\n' | sort -u | xargs)"
	expect_eq "binpack memory fills one instance" "1" "$(aws_ ecs run-task --cluster $c --task-definition $fam --count 3 \
		--placement-strategy type=binpack,field=memory --query 'tasks[].containerInstanceArn' | tr '\t' '\n' | sort -u | wc -l | xargs)"
	expect_eq "memberOf nothing matches" "MemberOf placement constraint unsatisfied." "$(aws_ ecs run-task --cluster $c --task-definition $fam \
		--placement-constraints '[{"type":"memberOf","expression":"attribute:ecs.instance-type =~ m5.*"}]' --query 'failures[0].reason')"
	expect_error "malformed expression" InvalidParameterException -- ecs run-task --cluster $c --task-definition $fam \
		--placement-constraints '[{"type":"memberOf","expression":"attribute:ecs.availability-zone in [a, b"}]'
	expect_eq "list-container-instances --filter" "2" "$(aws_ ecs list-container-instances --cluster $c \
		--filter 'attribute:ecs.availability-zone == a' --query 'length(containerInstanceArns)')"
	expect_eq "filter on task groups" "6" "$(aws_ ecs list-container-instances --cluster $c \
		--filter 'task:group == one-each and runningTasksCount > 0' --query 'length(containerInstanceArns)')"
	local task
	task=$(aws_ ecs run-task --cluster $c --task-definition $fam --query 'tasks[0].taskArn')
	if aws_ ecs wait tasks-running --cluster $c --tasks "$task"; then ok; else fail "a simulated task reaches RUNNING"; fi

	# A service on the fleet: create, scale in, roll out a new revision,
	# delete (refused while scaled above 0 unless forced).
	local s=web-$n
	local sargs=(--cluster $c --services $s)
	expect_eq "create-service" "ACTIVE 6" "$(aws_ ecs create-service --cluster $c --service-name $s --task-definition $fam --desired-count 6 \
		--deployment-configuration 'deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100' \
		--query 'service.[status, desiredCount]' | xargs)"
	wait_stable "create-service: 6 tasks" 6 aws_ "${sargs[@]}"
	expect_eq "describe-services: 6 running, one deployment, circuit breaker" "6 1 True True" "$(aws_ ecs describe-services "${sargs[@]}" \
		--query 'services[0].[runningCount, length(deployments), deploymentConfiguration.deploymentCircuitBreaker.[enable, rollback]]' | xargs)"
	# Stable (one deployment, all running) comes a moment before the
	# rollout is COMPLETED: each task must have run for a few seconds.
	if until_eq COMPLETED 100 aws_ ecs describe-services "${sargs[@]}" --query 'services[0].deployments[0].rolloutState'; then ok; else fail "the first rollout never COMPLETED"; fi
	expect_eq "list-tasks --service-name" "6" "$(aws_ ecs list-tasks --cluster $c --service-name $s --query 'length(taskArns)')"
	local kept
	kept=$(aws_ ecs list-tasks --cluster $c --service-name $s --query 'taskArns[0]')
	expect_eq "update-task-protection" "True" "$(aws_ ecs update-task-protection --cluster $c --tasks "$kept" --protection-enabled \
		--expires-in-minutes 30 --query 'protectedTasks[0].protectionEnabled')"
	expect_eq "update-service --desired-count" "3" "$(aws_ ecs update-service --cluster $c --service $s --desired-count 3 --query service.desiredCount)"
	wait_stable "scaled in to 3" 3 aws_ "${sargs[@]}"
	expect_eq "3 tasks left" "3" "$(aws_ ecs list-tasks --cluster $c --service-name $s --query 'length(taskArns)')"
	expect_eq "the protected task is among them" "RUNNING" "$(aws_ ecs describe-tasks --cluster $c --tasks "$kept" --query 'tasks[0].desiredStatus')"
	expect_eq "get-task-protection" "True" "$(aws_ ecs get-task-protection --cluster $c --tasks "$kept" --query 'protectedTasks[0].protectionEnabled')"
	aws_ ecs update-task-protection --cluster $c --tasks "$kept" --no-protection-enabled >/dev/null
	local rev2
	rev2=$(aws_ ecs register-task-definition --family $fam --container-definitions '[{"name":"app","image":"sim/app:2","memory":128,"cpu":64}]' \
		--query taskDefinition.taskDefinitionArn)
	expect_eq "update-service --task-definition: a new PRIMARY" "$rev2 2" "$(aws_ ecs update-service --cluster $c --service $s --task-definition "$rev2" \
		--query '[service.taskDefinition, length(service.deployments)]' | xargs)"
	wait_stable "rolled out $rev2" 3 aws_ "${sargs[@]}"
	expect_eq "the service runs the new revision" "$rev2" "$(aws_ ecs describe-services "${sargs[@]}" --query 'services[0].taskDefinition')"
	local arns
	arns=$(aws_ ecs list-tasks --cluster $c --service-name $s --query 'taskArns' | xargs)
	expect_eq "every task runs the new revision" "$rev2" "$(aws_ ecs describe-tasks --cluster $c --tasks $arns --query 'tasks[].taskDefinitionArn' | tr '\t' '\n' | sort -u | xargs)"
	expect_eq "list-services" "arn:aws:ecs:$REGION:000000000000:service/$c/$s" "$(aws_ ecs list-services --cluster $c --query 'serviceArns[0]')"
	expect_error "delete-service while scaled above 0" InvalidParameterException -- ecs delete-service --cluster $c --service $s
	expect_eq "delete-service --force" "DRAINING" "$(aws_ ecs delete-service --cluster $c --service $s --force --query service.status)"
	wait_inactive "delete-service --force" aws_ "${sargs[@]}"
	# not_null: Gantry's answers omit an empty list where ECS sends [].
	expect_eq "no task of the deleted service left" "0" "$(aws_ ecs list-tasks --cluster $c --service-name $s --query 'length(not_null(taskArns, `[]`))')"
	expect_eq "list-services after delete" "0" "$(aws_ ecs list-services --cluster $c --query 'length(not_null(serviceArns, `[]`))')"
}

expect_error_dev() {
	local desc=$1 code=$2; shift 2
	local err
	if err=$(env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$CLI" --endpoint-url "$DEV_EP" --region us-east-1 "$@" 2>&1 >/dev/null); then fail "$desc: succeeded, want $code"; return; fi
	if [[ "$err" == *"($code)"* ]]; then ok; else fail "$desc: want $code, got: $err"; fi
}

./scripts/test-images.sh >/dev/null
DEV_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DEV_EP=http://127.0.0.1:$DEV_PORT
# A distinct account, so cleanup removes only this script's containers.
"$BIN" dev --listen 127.0.0.1:$DEV_PORT --data-dir "$work/dev" --account-id 111111111111 --log-level warn >"$work/dev.log" 2>&1 &
devpid=$!
for _ in $(seq 1 300); do curl -fs --noproxy '*' "$DEV_EP/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

# suite_ec2: the EC2 networking calls (Query protocol, XML answers).
suite_ec2() {
	local vpc sn sg
	expect_eq "default VPC" "172.31.0.0/16 True" "$(aws_ ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[].[CidrBlock,IsDefault]' | xargs)"
	expect_eq "default subnets" "3" "$(aws_ ec2 describe-subnets --filters Name=default-for-az,Values=true --query 'length(Subnets)')"
	vpc=$(aws_ ec2 create-vpc --cidr-block 10.9.0.0/16 --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=e2e}]' --query Vpc.VpcId)
	sn=$(aws_ ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.9.1.0/24 --availability-zone "${REGION}b" --query Subnet.SubnetId)
	expect_error "overlapping subnet" InvalidSubnet.Conflict -- ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.9.1.0/25
	sg=$(aws_ ec2 create-security-group --group-name web --description web --vpc-id "$vpc" --query GroupId)
	aws_ ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 0.0.0.0/0 >/dev/null
	expect_error "duplicate rule" InvalidPermission.Duplicate -- ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 0.0.0.0/0
	expect_eq "ingress" "tcp 80 80" "$(aws_ ec2 describe-security-groups --group-ids "$sg" --query 'SecurityGroups[0].IpPermissions[0].[IpProtocol,FromPort,ToPort]' | xargs)"
	expect_error "VPC in use" DependencyViolation -- ec2 delete-vpc --vpc-id "$vpc"
	aws_ ec2 delete-security-group --group-id "$sg" >/dev/null
	aws_ ec2 delete-subnet --subnet-id "$sn" >/dev/null
	aws_ ec2 delete-vpc --vpc-id "$vpc" >/dev/null
	expect_error "deleted VPC" InvalidVpcID.NotFound -- ec2 describe-vpcs --vpc-ids "$vpc"
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
	echo "e2e: $CLI_NAME ($CLI) against $EP and, with tasks on Docker, $DEV_EP"
	suite
	suite_sim
	suite_ec2
	suite_dev
done

echo "e2e-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || exit 1
