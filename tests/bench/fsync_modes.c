/*
 * fsync_modes.c - how long an fdatasync after a small append takes, with the
 * file's blocks allocated three ways (docs/bench.md, "The journal's fsync").
 *
 *   build/bench/fsync_modes [DIR [APPENDS [BYTES]]]
 *
 * In DIR (default var/bench), for each mode, APPENDS (4000) writes of BYTES
 * (2700, about ten events) each followed by fdatasync, as the journal's
 * committer does per group: "append" grows the file as it goes; "written"
 * overwrites blocks written (zeros) and synced beforehand; "keep-size"
 * appends into blocks allocated with fallocate(FALLOC_FL_KEEP_SIZE), as the
 * journal now does. Prints p50, p99, max and the CPU per sync of each. To
 * see what the allocation costs when another program writes to the same
 * file system (PostgreSQL, say), run it beside one, e.g.
 *   while :; do dd if=/dev/zero of=var/bench/other bs=64k count=3000 conv=fdatasync; done
 * It measures; it asserts nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum mode { APPEND, WRITTEN, KEEP_SIZE };
static const char *const names[] = {"append", "written", "keep-size"};

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int run(const char *dir, enum mode m, int n, size_t bytes)
{
	char path[4096];
	size_t total = (size_t)n * bytes;
	unsigned char *buf = calloc(1, 1 << 20);
	double *lat = malloc((size_t)n * sizeof *lat);
	int fd, rc = 1;

	snprintf(path, sizeof path, "%s/fsync_modes.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | (m == WRITTEN ? 0 : O_APPEND), 0600);
	if (fd < 0 || !buf || !lat) {
		fprintf(stderr, "fsync_modes: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (m == WRITTEN) {
		for (size_t done = 0; done < total;) {
			size_t k = total - done < (1u << 20) ? total - done : 1u << 20;
			if (write(fd, buf, k) != (ssize_t)k)
				goto io;
			done += k;
		}
		if (fsync(fd) != 0)
			goto io;
	} else if (m == KEEP_SIZE) {
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)total) != 0 || fsync(fd) != 0)
			goto io;
	}
	memset(buf, 'x', bytes);
	double c0 = cpu_s(), t0 = mono_s();
	for (int i = 0; i < n; i++) {
		double a = mono_s();
		ssize_t w = m == WRITTEN ? pwrite(fd, buf, bytes, (off_t)i * (off_t)bytes)
					 : write(fd, buf, bytes);
		if (w != (ssize_t)bytes || fdatasync(fd) != 0)
			goto io;
		lat[i] = mono_s() - a;
	}
	double wall = mono_s() - t0, cpu = cpu_s() - c0;
	qsort(lat, (size_t)n, sizeof *lat, cmp_d);
	printf("%-9s  p50 %.3f ms  p99 %.3f ms  max %.3f ms  cpu per sync %.1f us  wall per sync "
	       "%.1f us\n",
	       names[m], lat[n / 2] * 1e3, lat[(size_t)n * 99 / 100] * 1e3, lat[n - 1] * 1e3,
	       cpu / n * 1e6, wall / n * 1e6);
	rc = 0;
	goto out;
io:
	fprintf(stderr, "fsync_modes: %s (%s): %s\n", path, names[m], strerror(errno));
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(buf);
	free(lat);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "var/bench";
	int n = argc > 2 ? atoi(argv[2]) : 4000;
	long bytes = argc > 3 ? atol(argv[3]) : 2700;
	struct stat st;

	if (n < 100 || n > 1000000 || bytes < 1 || bytes > (1 << 20)) {
		fprintf(stderr, "usage: fsync_modes [DIR [APPENDS 100-1000000 [BYTES 1-1048576]]]\n");
		return 2;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "fsync_modes: %s is not a directory\n", dir);
		return 2;
	}
	printf("fsync_modes: %d appends of %ld bytes in %s, fdatasync after each\n", n, bytes, dir);
	int rc = 0;
	for (int m = APPEND; m <= KEEP_SIZE; m++)
		rc |= run(dir, (enum mode)m, n, (size_t)bytes);
	return rc;
}
