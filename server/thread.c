/* thread.c - a thread's name and priority (thread.h). */
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"

void tn__thread_setup(const char *name, int nice)
{
	(void)pthread_setname_np(pthread_self(), name);
	if (nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) != 0)
		tn_warn("cannot lower a thread's priority", "thread=%s nice=%d", name, nice);
}
