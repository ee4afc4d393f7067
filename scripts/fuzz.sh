#!/bin/sh
# fuzz.sh - run each libFuzzer harness named on the command line (as
# tests/fuzz/fuzz_NAME.c) for FUZZ_SECONDS [60], under ASan + UBSan, as
# `make fuzz` builds them in FUZZ_BUILD [build-fuzz] (docs/security.md).
#
# For each harness: first every regression input (tests/fuzz/regress/NAME/,
# crashes found earlier, kept for ever) and the seed corpus
# (tests/fuzz/corpus/NAME/) are run once; then the fuzzer runs for the time
# given, growing a working corpus in var/fuzz/NAME (seeded from the
# committed one, kept between runs). It prints the executions run and the
# coverage reached. A crash leaves its input in var/fuzz/NAME-artifacts/ and
# fails the script: copy it into tests/fuzz/regress/NAME/ with the fix.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build="${FUZZ_BUILD:-build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
status=0

for src in "$@"; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	bin="$build/fuzz/$name"
	seeds="tests/fuzz/corpus/$short"
	regress="tests/fuzz/regress/$short"
	work="var/fuzz/$short"
	art="var/fuzz/$short-artifacts"
	log="var/fuzz/$short.log"
	[ -x "$bin" ] || { echo "fuzz: $bin is missing; run 'make fuzz'" >&2; exit 1; }
	mkdir -p "$work" "$art"

	# 1. The regressions and seeds, once each.
	inputs=$(find "$regress" "$seeds" -type f 2>/dev/null | sort)
	if [ -n "$inputs" ]; then
		# shellcheck disable=SC2086
		if ! "$bin" -runs=1 $inputs >"$log.replay" 2>&1; then
			echo "fuzz: $name fails on a committed input:" >&2
			tail -n 30 "$log.replay" >&2
			status=1
			continue
		fi
		echo "fuzz: $name: $(echo "$inputs" | wc -l) committed inputs pass"
	fi

	# 2. Fuzz for the time given.
	echo "fuzz: $name for $seconds s (log: $log)"
	if "$bin" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art/" "$work" "$seeds" \
		>"$log" 2>&1; then
		:
	else
		echo "fuzz: $name found a failure; its input is in $art/:" >&2
		grep -E 'ERROR|broken|SUMMARY|Test unit written' "$log" | head -n 20 >&2
		status=1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	corpus=$(find "$work" -type f | wc -l)
	echo "fuzz: $name: ${execs:-?} executions in $seconds s, ${cov:-coverage ?}" \
		"(edges and features), working corpus $corpus inputs"
done
exit $status
