/*
 * thread.h - what each of tocsind's threads does first: take a name, so that
 * `top -H`, `ps -L` and perf say which part is busy, and, for the stages
 * behind the journal, a lower priority.
 *
 * Why the priorities: an adapter's ack waits only for ingest, the committer
 * and one fsync; the correlator, the store and the alerts work from the
 * journal and may fall behind for a while without anything being lost (the
 * journal is bounded, and full is refused and counted). When the machine is
 * short of CPU, the ack path should not queue behind them (docs/bench.md,
 * "Priorities"). A niced thread still takes every cycle nobody else wants.
 */
#ifndef TN_THREAD_H
#define TN_THREAD_H

/*
 * tn__thread_setup - name the calling thread (at most 15 bytes, borrowed) and,
 * with nice > 0, lower its priority to that nice value (Linux: per thread).
 * A failure is logged (a warning naming the thread) and otherwise ignored:
 * neither is needed for correctness. The thread itself calls it, first.
 */
void tn__thread_setup(const char *name, int nice);

#endif
