/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/stripe.c - robust process-shared stripe lock.
 *
 * A pthread mutex with PTHREAD_PROCESS_SHARED and PTHREAD_MUTEX_ROBUST:
 * glibc keeps a per-thread list of held robust mutexes that the kernel
 * walks when the thread dies, marking each one "owner died" and waking a
 * waiter. The next pthread_mutex_lock() then returns EOWNERDEAD with the
 * lock held; we pass that up as STRIPE_LOCK_RECOVER so the table can repair
 * the stripe before stripe_lock_consistent(). If the recoverer dies too,
 * the next locker sees EOWNERDEAD again, so a repair is never skipped.
 *
 * A trylock first tells us whether the acquisition was contended (a gauge
 * for sizing the stripe count) without a second atomic in the common case.
 */
#include "shm/stripe.h"

#include <errno.h>

int stripe_lock_init(struct stripe_lock *l)
{
	pthread_mutexattr_t a;
	int rc;

	rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(&l->m, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

int stripe_lock_acquire(struct stripe_lock *l, bool *contended)
{
	int rc;

	*contended = false;
	rc = pthread_mutex_trylock(&l->m);
	if (rc == EBUSY) {
		*contended = true;
		rc = pthread_mutex_lock(&l->m);
	}
	if (rc == 0)
		return 0;
	if (rc == EOWNERDEAD)
		return STRIPE_LOCK_RECOVER;
	return -rc;
}

void stripe_lock_consistent(struct stripe_lock *l)
{
	pthread_mutex_consistent(&l->m);
}

void stripe_lock_release(struct stripe_lock *l)
{
	pthread_mutex_unlock(&l->m);
}
