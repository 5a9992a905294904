/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/stripe.h - the per-stripe lock: a robust, process-shared mutex.
 *
 * Lives in the shared segment, one per stripe of the torrent table. When a
 * process dies holding it, the next locker is told so (STRIPE_LOCK_RECOVER)
 * and must repair what the lock protects, then call stripe_lock_consistent()
 * before releasing it. Never held across a system call (the uncontended
 * lock and unlock are futex-free atomics; a contended one sleeps in the
 * kernel while NOT holding the lock).
 */
#ifndef TRACKER_SHM_STRIPE_H
#define TRACKER_SHM_STRIPE_H

#include <pthread.h>
#include <stdbool.h>

struct stripe_lock {
	pthread_mutex_t m;
};

_Static_assert(sizeof(struct stripe_lock) <= 48, "stripe lock fits the stripe header");

/* The lock was taken, but its previous holder died: repair, then consistent. */
#define STRIPE_LOCK_RECOVER 1

/* Initialise a lock in shared memory (robust, PTHREAD_PROCESS_SHARED). 0 or -errno. */
int stripe_lock_init(struct stripe_lock *l);

/*
 * Take the lock. Returns 0, STRIPE_LOCK_RECOVER (locked; repair needed), or
 * -errno (not locked; -ENOTRECOVERABLE if a recoverer released it without
 * marking it consistent). *contended is set when the lock had to wait.
 */
int stripe_lock_acquire(struct stripe_lock *l, bool *contended);

/* After a repair under STRIPE_LOCK_RECOVER: the state is good again. */
void stripe_lock_consistent(struct stripe_lock *l);

void stripe_lock_release(struct stripe_lock *l);

#endif /* TRACKER_SHM_STRIPE_H */
