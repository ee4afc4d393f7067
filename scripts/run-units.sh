#!/bin/sh
# run-units.sh - run each Check suite; fail if any fails, after running all.
set -u
fail=0
for t in "$@"; do
	echo "== $t"
	if ! "$t"; then
		echo "FAILED: $t" >&2
		fail=1
	fi
done
exit $fail
