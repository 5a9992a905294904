/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_stripe.c - the robust process-shared stripe lock.
 *
 * Exclusion across processes, contention reported, and recovery: a child
 * that dies holding the lock (exits, or is killed with SIGKILL while the
 * parent waits on it) hands the next locker STRIPE_LOCK_RECOVER; after
 * stripe_lock_consistent() the lock works normally again.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/stripe.h"

struct shared {
	struct stripe_lock l;
	volatile uint64_t counter;
};

static struct shared *shared_new(void)
{
	struct shared *s =
		mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(s != MAP_FAILED);
	assert_int_equal(stripe_lock_init(&s->l), 0);
	return s;
}

static void test_exclusion(void **state)
{
	struct shared *s = shared_new();
	bool contended;
	pid_t pid[2];
	int i, j, st;

	(void)state;
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			for (j = 0; j < 200000; j++) {
				if (stripe_lock_acquire(&s->l, &contended) != 0)
					_exit(1);
				s->counter = s->counter + 1; /* not atomic: the lock protects it */
				stripe_lock_release(&s->l);
			}
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(s->counter, 400000);
	munmap(s, sizeof(*s));
}

static void test_owner_exits(void **state)
{
	struct shared *s = shared_new();
	bool contended;
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stripe_lock_acquire(&s->l, &contended) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(stripe_lock_acquire(&s->l, &contended), STRIPE_LOCK_RECOVER);
	stripe_lock_consistent(&s->l);
	stripe_lock_release(&s->l);
	assert_int_equal(stripe_lock_acquire(&s->l, &contended), 0);
	assert_false(contended);
	stripe_lock_release(&s->l);
	munmap(s, sizeof(*s));
}

static void test_owner_killed_while_waited(void **state)
{
	struct shared *s = shared_new();
	struct pollfd p;
	bool contended;
	int fds[2], st;
	pid_t holder, waiter;
	char c;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		if (stripe_lock_acquire(&s->l, &contended) != 0 || write(fds[1], "h", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	p = (struct pollfd){ fds[0], POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(read(fds[0], &c, 1), 1);
	waiter = fork();
	assert_true(waiter >= 0);
	if (waiter == 0) {
		int rc = stripe_lock_acquire(&s->l, &contended);

		if (rc != STRIPE_LOCK_RECOVER)
			_exit(2);
		s->counter = 7; /* "repair" */
		stripe_lock_consistent(&s->l);
		stripe_lock_release(&s->l);
		_exit(0);
	}
	assert_int_equal(kill(holder, SIGKILL), 0);
	assert_int_equal(waitpid(holder, &st, 0), holder);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(waitpid(waiter, &st, 0), waiter);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(s->counter, 7);
	assert_int_equal(stripe_lock_acquire(&s->l, &contended), 0);
	stripe_lock_release(&s->l);
	close(fds[0]);
	close(fds[1]);
	munmap(s, sizeof(*s));
}

static void test_recoverer_dies_too(void **state)
{
	struct shared *s = shared_new();
	bool contended;
	pid_t pid;
	int st, i;

	(void)state;
	/* Two holders in a row die; the repair is never skipped. */
	for (i = 0; i < 2; i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(stripe_lock_acquire(&s->l, &contended) ==
					      (i ? STRIPE_LOCK_RECOVER : 0) ?
				      0 :
				      1);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(stripe_lock_acquire(&s->l, &contended), STRIPE_LOCK_RECOVER);
	stripe_lock_consistent(&s->l);
	stripe_lock_release(&s->l);
	munmap(s, sizeof(*s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exclusion),
		cmocka_unit_test(test_owner_exits),
		cmocka_unit_test(test_owner_killed_while_waited),
		cmocka_unit_test(test_recoverer_dies_too),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
