#!/usr/bin/env bash
# The HTTP server's limits on the zcap command line: --max-clients,
# --stall-timeout and --request-timeout, refused when malformed and honoured
# by zcap stream.
# Usage: stream_cli_test.sh ZCAP
set -uo pipefail

zcap=$1
work=$(mktemp -d "${ZCAP_TEST_DIR:-/var/tmp}/zcap-stream-cli-XXXXXX")
server=""
trap '[[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
# shellcheck source=cli_lib.sh
source "$(dirname "$0")/cli_lib.sh"

expect_usage_error "zero clients" "invalid client count '0'" stream --listen 0 --max-clients 0
expect_usage_error "clients not a number" "invalid client count 'many'" \
	stream --listen 0 --max-clients many
expect_usage_error "too many clients" "invalid client count '1000001'" \
	stream --listen 0 --max-clients 1000001
expect_usage_error "zero stall timeout" "invalid duration '0s'" stream --listen 0 --stall-timeout 0s
expect_usage_error "bad stall timeout" "invalid duration 'soon'" \
	stream --listen 0 --stall-timeout soon
expect_usage_error "negative request timeout" "invalid duration '-1s'" \
	stream --listen 0 --request-timeout -1s
expect_usage_error "request timeout without value" "needs a value" \
	stream --listen 0 --request-timeout
expect_usage_error "limits need a server" "--max-clients needs --serve or --connect" \
	record -s pattern -o "$work/x.mkv" -n 1 --max-clients 4
expect_usage_error "timeouts need a server" "--stall-timeout needs --serve or --connect" \
	record -s pattern -o "$work/x.mkv" -n 1 --stall-timeout 1s
check "no file left by bad arguments" test -z "$(ls "$work")"
for option in "--max-clients N" "--stall-timeout TIME" "--request-timeout TIME"; do
	check "record --help documents $option" bash -c "'$zcap' record --help | grep -q -- '$option'"
	check "stream --help names $option" bash -c "'$zcap' stream --help | grep -q -- '$option'"
done

# Starts zcap stream with ARGS in the background; sets $server and $port.
start_server() {
	"$zcap" stream --listen 127.0.0.1:0 --size 320x240 "$@" >"$work/serve.out" 2>&1 &
	server=$!
	port=""
	for _ in $(seq 50); do
		port=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.out" | cut -d: -f3)
		[[ -n $port ]] && break
		sleep 0.1
	done
}

# The status code the server answers GET PATH with, by curl or else Python.
status_of() {
	if command -v curl >/dev/null; then
		curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://127.0.0.1:$port$1"
	else
		python3 - "$port" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(f"GET {sys.argv[2]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
print(s.recv(12)[9:12].decode(), end="")
PY
	fi
}

# --max-clients 1: a client streams /live.raw; a second one gets 503.
start_server --max-clients 1 -t 2s
check "max-clients: the server listens (port '$port')" test -n "$port"
python3 - "$port" "$work/first.head" <<'PY' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head and (chunk := s.recv(4096)):
    head += chunk
open(sys.argv[2], "w").write(head.split(b"\r\n")[0].decode())
while s.recv(1 << 20):
    pass
PY
first=$!
for _ in $(seq 50); do [[ -s $work/first.head ]] && break; sleep 0.1; done
check "max-clients: the first client is served ($(cat "$work/first.head" 2>/dev/null))" \
	grep -q "^HTTP/1.1 200" "$work/first.head"
second=$(status_of /live.raw)
check "max-clients: a second client gets 503 (got $second)" test "$second" = 503
wait $first
wait $server
status=$?
server=""
check "max-clients: zcap stream exits 0 (got $status)" test $status -eq 0
check "max-clients: the summary counts both" grep -q "served 2 clients" "$work/serve.out"
check "max-clients: the first got frames" grep -Eq "/live.raw via copy: [1-9][0-9]* frames" "$work/serve.out"

# --request-timeout and --stall-timeout: a client that sends nothing and one
# that never reads are dropped as set.
start_server --request-timeout 200ms --stall-timeout 300ms -t 3s
python3 - "$port" >"$work/timeouts.out" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
start = time.monotonic()  # before the server can have accepted it
idle = socket.create_connection(("127.0.0.1", port), timeout=10)
stalled = socket.socket()
stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
stalled.connect(("127.0.0.1", port))
stalled.sendall(b"GET /live.raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
idle.recv(1)
print(f"idle {time.monotonic() - start:.2f}")
time.sleep(2)
PY
idle=$(awk '/^idle/ {print $2}' "$work/timeouts.out")
# Not before 0.2 s; how long after depends on the machine's load.
check "request-timeout: a silent client is dropped after 0.2 s (got ${idle:-none})" \
	python3 -c "import sys; sys.exit(not 0.2 <= float('${idle:-0}'))"
wait $server
server=""
check "request-timeout: the summary says why" grep -q "(no request) via copy: .*; no request in time" "$work/serve.out"
check "stall-timeout: the summary says why" grep -q "/live.raw via copy: .*; stalled for 300 ms" "$work/serve.out"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
