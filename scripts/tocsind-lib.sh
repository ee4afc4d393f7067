# tocsind-lib.sh - sourced by the bench scripts: stop the tocsind they started.
#
# stop_server: SIGTERM the tocsind whose pid is in $pid (nothing when empty),
# wait up to 30 s for it to drain and exit, SIGKILL it past that (said on
# stderr, prefixed with $stop_server_name), reap it and clear $pid.

stop_server() {
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "${stop_server_name:-tocsind-lib}: tocsind did not stop within 30 s of" \
				"SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	pid=""
}
