#!/bin/sh
# run-units.sh - run each Check suite; fail if any fails, after running all.
# Prints each suite's wall time (sanitized builds are several times slower).
set -u
fail=0
for t in "$@"; do
	echo "== $t"
	start=$(date +%s)
	if ! "$t"; then
		echo "FAILED: $t" >&2
		fail=1
	fi
	echo "== $t: $(($(date +%s) - start)) s"
done
exit $fail
