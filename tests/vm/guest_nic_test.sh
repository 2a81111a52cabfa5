#!/bin/sh
# The guest's half of the NIC test (nic_test.sh runs the host's): zcap
# stream serves the pattern at 25 fps on the NICs run-in-guest --nic set up,
# once for each --net-path in ZCAP_NIC_PATHS, while clients on the host read
# it. Phase k serves on port ZCAP_NIC_PORT + 2k and stops when the host
# connects to port ZCAP_NIC_PORT + 2k + 1; its statistics (--stats-json)
# and zcap's log go to the console on lines the host reads. Then vivid
# (below).
# Runs under busybox sh; zcap and vm_scatter_gather are in /zcap.
set -u

# serve NAME PORT ZCAP_ARGS...: runs zcap ZCAP_ARGS --stats-json until the
# host connects to PORT + 1, saying on the console when it serves and what
# it counted.
serve() {
	name=$1 port=$2 out=/mnt/disk/$1
	shift 2
	/zcap/zcap "$@" --stats-json "$out.json" >"$out.out" 2>"$out.log" &
	zcap=$!
	# "serving ..." comes once it listens.
	while ! grep -q '^serving' "$out.out" && kill -0 $zcap 2>/dev/null; do
		sleep 0.1
	done
	echo "ZCAP-NIC-SERVING $name $port"
	# Until the host says stop (its connection opens and closes).
	nc -l -p $((port + 1)) </dev/null >/dev/null
	kill -INT $zcap
	wait $zcap
	status=$?
	echo "ZCAP-NIC-LOG $name $(tr '\n' ' ' <"$out.log")"
	echo "ZCAP-NIC-STATS $name $status $(tr -d '\n' <"$out.json")"
}

for dev in ${ZCAP_VM_TAP_DEV:-} ${ZCAP_VM_USER_DEV:-}; do
	echo "ZCAP-NIC-SG $(/zcap/vm_scatter_gather "$dev" 2>&1)"
done
k=0
for path in $ZCAP_NIC_PATHS; do
	port=$((ZCAP_NIC_PORT + 2 * k))
	serve "$path" "$port" stream --listen "0.0.0.0:$port" -s pattern --size 320x240 --fps 25 \
		--net-path "$path"
	k=$((k + 1))
done

# vivid: zcap record -d /dev/video0 --serve with --net-path sendfile on port
# ZCAP_NIC_VIVID_PORT (--policy block: every frame served is also on disk);
# then busybox httpd serves the recording on the port after the one that
# stops it until the host connects to the next.
[ -n "${ZCAP_NIC_VIVID_PORT:-}" ] || exit 0
port=$ZCAP_NIC_VIVID_PORT
serve vivid "$port" record -d /dev/video0 -f YUYV --size 320x180 --fps 25 --policy block \
	-o /mnt/disk/vivid.raw --serve "0.0.0.0:$port" --net-path sendfile
httpd -f -p $((port + 2)) -h /mnt/disk &
httpd=$!
echo "ZCAP-NIC-RECORDING vivid $((port + 2))"
nc -l -p $((port + 3)) </dev/null >/dev/null
kill $httpd
