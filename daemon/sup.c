/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/sup.c - the supervisor: segment, sockets, children, signals.
 *
 * Owns everything that must outlive a child: the shared segment, the UDP
 * sockets and the control socket. It forks the socket workers and the
 * control process, pins each worker to a CPU, restarts any child that dies,
 * and turns SIGTERM/SIGINT into a drain and SIGHUP into a reload. It never
 * touches a datagram.
 *
 * Design notes:
 * - Signals arrive through a signalfd; the supervisor blocks them from the
 *   start, so nothing is lost between fork and the main loop, and the loop
 *   is one poll() whose timeout is the nearest restart or kill deadline.
 * - Counter slots: each worker writes the counter block of its slot. The
 *   slot table below is the slot allocator: a worker of a new generation
 *   takes the lowest slot no live worker holds, so during a reload the old
 *   generation keeps its blocks while it drains. A restarted (crashed)
 *   worker keeps its slot and its counters. When a free slot is taken
 *   again, its old values are first added to the retired block
 *   (CTRL_RETIRED_SLOT) so totals never go backwards.
 * - Children: right after fork() they restore default signal dispositions,
 *   close every descriptor they do not own, ask for SIGKILL when the
 *   supervisor dies (PR_SET_PDEATHSIG) and check getppid() in case it died
 *   before that, then unblock signals. SIGTERM/SIGINT only set a flag: the
 *   worker stops receiving, flushes its replies and returns.
 * - Restarts back off: 100 ms after a death, doubling up to 10 s while the
 *   child keeps dying young, back to 100 ms once one has lived 30 s.
 * - Reload: parse and validate into a fresh struct conf; a failure changes
 *   nothing. Keys that need new sockets or a new segment keep their running
 *   value (logged by name). Then a new worker generation is started on the
 *   same sockets, and once all of it serves (each worker has armed its
 *   receives) the old one is sent SIGTERM to drain: both serve the sockets
 *   for a moment, nothing is dropped. The control process is
 *   replaced by one running on the new configuration. A new worker count
 *   applies too: inherited sockets are simply shared differently; our own
 *   groups (one socket per worker) grow or shrink first (net_resize()).
 * - Sockets to workers: worker i serves socket i of each family; when a
 *   family has fewer sockets than workers they share (i % nsock), when it
 *   has more (systemd passed several), worker i also takes every socket
 *   j with j % workers == i, so none is left unread.
 * - Service manager (daemon/svc.c): sockets and the control socket may be
 *   inherited; the segment is re-attached from the FD store when its
 *   header matches (a restart keeps every peer) and stored again; READY=1
 *   once every worker of the generation has chosen its backend, STATUS=
 *   every SUP_STATUS_MS, WATCHDOG=1 only while every running worker's
 *   heartbeat moves (a worker stuck for a whole period is killed and
 *   restarted), RELOADING=1/READY=1 around reloads, STOPPING=1.
 * - Shutdown: SIGTERM to every child, up to SUP_STOP_MS for them to exit
 *   (SUP_SNAPSHOT_STOP_MS for the control process, which writes the final
 *   snapshot), SIGKILL for stragglers, reap them all, exit 0. A reload
 *   replaces the control process with CTRL_SIG_REPLACE then SIGTERM, so
 *   that it exits without a snapshot.
 * - A fresh segment (none re-attached) is filled from the newest snapshot
 *   before any child is forked (daemon/snapshot.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/connid.h"
#include "daemon/ctlsrv.h"
#include "daemon/ctrl.h"
#include "daemon/log.h"
#include "daemon/net.h"
#include "daemon/privs.h"
#include "daemon/snapshot.h"
#include "daemon/sup.h"
#include "daemon/svc.h"
#include "daemon/worker.h"
#include "shm/counters.h"
#include "shm/segment.h"
#include "shm/torrents.h"

#define SUP_BACKOFF_MIN_MS 100u
#define SUP_BACKOFF_MAX_MS 10000u
#define SUP_STABLE_MS 30000u
/* A control process that lived this long was serving: restart it at once. */
#define SUP_SERVED_MS 1000u
#define SUP_STOP_MS 3000u
/* The control process writes the final snapshot at shutdown: wait this long (< TimeoutStopSec). */
#define SUP_SNAPSHOT_STOP_MS 12000u
#define SUP_STATUS_MS 5000u /* STATUS= refresh for the service manager */
#define SUP_RETIRE_MS 10000u /* longest overlap of two generations on a reload */
/* Workers in one generation; two generations must fit the counter slots. */
#define SUP_WORKERS_MAX ((CTRL_RETIRED_SLOT) / 2)

_Static_assert(CTRL_RETIRED_SLOT < SEGMENT_WORKER_SLOTS, "retired block is a real slot");
_Static_assert(SUP_WORKERS_MAX <= NET_MAX_GROUP, "one socket per worker");

enum child_state {
	CHILD_FREE = 0, /* slot unused */
	CHILD_RUNNING, /* pid is alive and serving */
	CHILD_WAITING, /* died; restart at restart_at */
	CHILD_DRAINING, /* old generation or shutdown: SIGTERM sent, not restarted */
};

struct child {
	enum child_state state;
	pid_t pid;
	unsigned index; /* worker index within its generation (socket index) */
	unsigned generation;
	int cpu;
	uint64_t started_ms; /* CLOCK_MONOTONIC of the last fork */
	uint64_t restart_at; /* CLOCK_MONOTONIC ms, CHILD_WAITING only */
	uint64_t kill_at; /* CLOCK_MONOTONIC ms, CHILD_DRAINING only */
	unsigned backoff_ms;
	unsigned restarts;
	bool retiring; /* old generation: drained once the new one serves */
};

struct sup {
	struct conf conf; /* the running configuration */
	const struct sup_args *args;
	pid_t pid;
	struct segment *seg;
	struct net_sockets net;
	int sigfd;
	int control_fd; /* listening control socket, -1 if none */
	bool control_created; /* we bound it: unlink at exit */
	unsigned nworkers; /* workers per generation */
	bool inherited; /* sockets from systemd: not one per worker */
	unsigned generation;
	uint64_t started_wall; /* CLOCK_REALTIME seconds */
	int cpus[CPU_SETSIZE]; /* CPUs we may run on, in order */
	unsigned ncpus;
	struct child w[SEGMENT_WORKER_SLOTS]; /* indexed by counter slot */
	struct child ctrl;
	bool ctrl_restart_now; /* replaced on reload: no back-off */
	bool stopping;
	uint64_t stop_deadline;
	bool ready_pending; /* READY=1 not yet sent for this generation */
	uint64_t watchdog_ms; /* half the service manager's period, 0 = off */
	uint64_t next_watchdog;
	uint64_t last_heartbeat[SEGMENT_WORKER_SLOTS];
	uint64_t next_status; /* CLOCK_MONOTONIC ms of the next STATUS= */
	uint64_t status_requests; /* requests counted at the last STATUS= */
	uint64_t status_at;
	uint64_t retire_by; /* drain the old generation by then even if the new one lags */
};

/* Set by the children's SIGTERM/SIGINT handler. */
static volatile sig_atomic_t child_stop;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned resolve_workers(const struct conf *c)
{
	long n = c->workers;

	if (n == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
	}
	if (n > (long)SUP_WORKERS_MAX) {
		log_msg(LOG_WARNING, "workers = %ld is more than %u, using %u", n, SUP_WORKERS_MAX,
			SUP_WORKERS_MAX);
		n = SUP_WORKERS_MAX;
	}
	return (unsigned)n;
}

static void load_cpus(struct sup *s)
{
	cpu_set_t set;
	int i;

	s->ncpus = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				s->cpus[s->ncpus++] = i;
	}
	if (s->ncpus == 0) {
		s->cpus[0] = -1;
		s->ncpus = 1;
	}
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "",
			 WTERMSIG(status) == SIGSYS ?
				 ": a system call outside its seccomp filter (logged above)" :
				 "");
	else
		snprintf(buf, len, "ended with wait status 0x%x", (unsigned)status);
}

/*
 * CPU steering sends a datagram received on CPU c to socket c % n; that is
 * worker i's socket exactly when worker i is pinned to a CPU c with
 * c % n == i, which holds for the usual 0..n-1 but not for every
 * affinity mask (taskset) or for more workers than CPUs.
 */
static bool can_steer(const struct sup *s)
{
	unsigned i;

	if (s->nworkers > s->ncpus)
		return false;
	for (i = 0; i < s->nworkers; i++)
		if (s->cpus[i] < 0 || (unsigned)s->cpus[i] % s->nworkers != i)
			return false;
	return true;
}

/* --- in the child, right after fork() ------------------------------------ */

static void on_child_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Close every descriptor above stderr except the keep[] ones. */
/* close_range(2), or a loop on kernels before 5.9. */
static void close_fds(unsigned lo, unsigned hi)
{
	struct rlimit rl;
	unsigned fd;

	if (close_range(lo, hi, 0) == 0 || errno != ENOSYS)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < hi)
		hi = rl.rlim_cur > 65536 ? 65536 : (unsigned)rl.rlim_cur;
	for (fd = lo; fd <= hi && fd < 65536; fd++)
		close((int)fd);
}

static void close_all_but(int *keep, unsigned nkeep)
{
	unsigned i;
	int lo = 3;

	qsort(keep, nkeep, sizeof(keep[0]), cmp_int);
	for (i = 0; i < nkeep; i++) {
		if (keep[i] < lo)
			continue;
		if (keep[i] > lo)
			close_fds((unsigned)lo, (unsigned)keep[i] - 1);
		lo = keep[i] + 1;
	}
	close_fds((unsigned)lo, ~0u);
}

/*
 * Common child set-up. Dies at once if the supervisor is already gone.
 * Signals stay blocked until the end, so a SIGTERM sent right after fork()
 * reaches our handler instead of the default action.
 */
static void child_setup(const struct sup *s, const char *role, int *keep, unsigned nkeep)
{
	struct sigaction sa;
	sigset_t all;
	int sig;

	log_set_role(role);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP, RT internals: EINVAL, fine */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != s->pid)
		_exit(1);
	close_all_but(keep, nkeep);

	child_stop = 0;
	sa.sa_handler = on_child_stop; /* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;
	int r;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		r = -errno;
		log_errno(LOG_WARNING, r, "cannot pin to cpu %d, ignoring", cpu);
	}
}

/*
 * The sockets worker i of n serves, per family: with at least as many
 * workers as sockets, socket i % nsock (workers share); with more sockets
 * (inherited ones, or before a shrinking reload), every socket j with
 * j % n == i, so that no socket is left unread. At most
 * WORKER_MAX_SOCKETS / 2 per family.
 */
static unsigned family_sockets(const int *fds, unsigned nsock, unsigned i, unsigned n, int *out)
{
	unsigned j, k = 0;

	if (!nsock)
		return 0;
	if (nsock <= n) {
		out[0] = fds[i % nsock];
		return 1;
	}
	for (j = i; j < nsock && k < WORKER_MAX_SOCKETS / 2; j += n)
		out[k++] = fds[j];
	return k;
}

static unsigned assign_sockets(const struct sup *s, unsigned i, int *out)
{
	unsigned n = family_sockets(s->net.fd4, s->net.n4, i, s->nworkers, out);

	return n + family_sockets(s->net.fd6, s->net.n6, i, s->nworkers, out + n);
}

/* Say so when some inherited sockets cannot be given to any worker. */
static void check_coverage(const struct sup *s)
{
	unsigned most = s->nworkers * (WORKER_MAX_SOCKETS / 2);

	if (s->net.n4 > most || s->net.n6 > most)
		log_msg(LOG_WARNING,
			"%u workers serve at most %u sockets per family; %u IPv4 and %u IPv6 "
			"sockets were passed, the rest stay unread",
			s->nworkers, most, s->net.n4, s->net.n6);
}

static void __attribute__((noreturn)) run_worker(struct sup *s, struct child *k, unsigned slot)
{
	struct worker_params p;
	int keep[WORKER_MAX_SOCKETS + 1];
	unsigned nkeep = 0;
	char role[32];

	memset(&p, 0, sizeof(p));
	nkeep = assign_sockets(s, k->index, p.fds);
	p.nfds = nkeep;
	memcpy(keep, p.fds, nkeep * sizeof(keep[0]));
	keep[nkeep++] = segment_fd(s->seg);
	snprintf(role, sizeof(role), "worker/%u", k->index);
	child_setup(s, role, keep, nkeep);
	pin_to_cpu(k->cpu);

	p.slot = slot;
	p.cpu = k->cpu;
	p.generation = k->generation;
	p.conf = &s->conf;
	p.seg = s->seg;
	p.stop = &child_stop;
	_exit(worker_run(&p));
}

static void __attribute__((noreturn)) run_ctrl(struct sup *s)
{
	struct ctrl_params p;
	int keep[2];
	unsigned nkeep = 0;

	keep[nkeep++] = segment_fd(s->seg);
	if (s->control_fd >= 0)
		keep[nkeep++] = s->control_fd;
	child_setup(s, "ctrl", keep, nkeep);

	memset(&p, 0, sizeof(p));
	p.conf = &s->conf;
	p.seg = s->seg;
	p.sup_pid = s->pid;
	p.generation = s->generation;
	p.workers = s->nworkers;
	p.started = s->started_wall;
	p.control_fd = s->control_fd;
	p.args = s->args;
	p.stop = &child_stop;
	_exit(ctrl_run(&p));
}

/* --- in the supervisor ---------------------------------------------------- */

/* Fold a reused slot's old values into the retired block, then zero it. */
static void retire_slot(struct sup *s, unsigned slot)
{
	struct counters_block *b = segment_counters(s->seg, slot);
	struct counters_block *r = segment_counters(s->seg, CTRL_RETIRED_SLOT);
	unsigned f, i;

	for (f = 0; f < COUNTERS_FAM__MAX; f++) {
		for (i = 0; i < COUNTERS__MAX; i++) {
			uint64_t v = counters_read(b, f, (enum counters_id)i);

			/*
			 * Zero first: the control process may fold in between,
			 * and it hides a dip (totals never go down) but would
			 * keep a double count.
			 */
			if (v) {
				__atomic_store_n(&b->v[f][i], 0, __ATOMIC_RELAXED);
				counters_add(r, f, (enum counters_id)i, v);
			}
		}
	}
	b->restarts = 0;
	b->pid = 0;
}

static int fork_worker(struct sup *s, unsigned slot)
{
	struct child *k = &s->w[slot];
	struct counters_block *b = segment_counters(s->seg, slot);
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return log_errno(LOG_ERR, -errno, "cannot fork worker/%u", k->index);
	if (pid == 0)
		run_worker(s, k, slot);
	k->pid = pid;
	k->state = CHILD_RUNNING;
	k->started_ms = now_ms();
	b->restarts = k->restarts;
	log_msg(LOG_INFO, "worker/%u started: pid %d, cpu %d, slot %u, generation %u", k->index,
		(int)pid, k->cpu, slot, k->generation);
	return 0;
}

static int fork_ctrl(struct sup *s)
{
	pid_t pid = fork();

	if (pid < 0)
		return log_errno(LOG_ERR, -errno, "cannot fork the control process");
	if (pid == 0)
		run_ctrl(s);
	s->ctrl.pid = pid;
	s->ctrl.state = CHILD_RUNNING;
	s->ctrl.started_ms = now_ms();
	log_msg(LOG_INFO, "control process started: pid %d", (int)pid);
	return 0;
}

/* Start worker i of the current generation in the lowest free slot. */
static int start_worker(struct sup *s, unsigned i)
{
	struct child *k;
	unsigned slot;
	int r;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
		if (s->w[slot].state == CHILD_FREE)
			break;
	if (slot == CTRL_RETIRED_SLOT)
		return log_errno(LOG_ERR, -ENOSPC, "no free counter slot for worker/%u", i);
	retire_slot(s, slot);
	k = &s->w[slot];
	memset(k, 0, sizeof(*k));
	k->index = i;
	k->generation = s->generation;
	k->cpu = s->cpus[i % s->ncpus];
	k->backoff_ms = SUP_BACKOFF_MIN_MS;
	r = fork_worker(s, slot);
	if (r < 0) {
		/* Retry later like a crash. */
		k->state = CHILD_WAITING;
		k->restart_at = now_ms() + k->backoff_ms;
	}
	return 0;
}

/* A child died unexpectedly: schedule its restart. */
/* The worker in slot, process pid, had set up its backend: it was receiving. */
static bool worker_was_serving(struct sup *s, unsigned slot, pid_t pid)
{
	const struct counters_block *b = segment_counters(s->seg, slot);

	return __atomic_load_n(&b->pid, __ATOMIC_RELAXED) == (uint32_t)pid &&
	       __atomic_load_n(&b->backend, __ATOMIC_RELAXED) != 0;
}

/*
 * Back-off protects against a child that dies while starting (bad
 * environment, a crash at setup): its delay doubles up to the maximum. A
 * child that had been serving is restarted at once, however often it is
 * killed, because datagrams steered to its socket wait there until then.
 */
static void schedule_restart(struct child *k, uint64_t now, bool served)
{
	if (now - k->started_ms >= SUP_STABLE_MS)
		k->backoff_ms = SUP_BACKOFF_MIN_MS;
	k->state = CHILD_WAITING;
	k->pid = 0;
	if (served) {
		k->restart_at = now;
		k->backoff_ms = SUP_BACKOFF_MIN_MS;
		return;
	}
	k->restart_at = now + k->backoff_ms;
	k->backoff_ms =
		k->backoff_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : k->backoff_ms * 2;
}

static void reap(struct sup *s)
{
	char how[160];
	uint64_t now = now_ms();
	unsigned slot;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		describe_status(status, how, sizeof(how));
		if (pid == s->ctrl.pid) {
			s->ctrl.pid = 0;
			if (s->stopping || s->ctrl.state == CHILD_DRAINING) {
				s->ctrl.state = CHILD_FREE;
				log_msg(LOG_INFO, "control process %s", how);
				if (s->ctrl_restart_now && !s->stopping) {
					s->ctrl_restart_now = false;
					s->ctrl.state = CHILD_WAITING;
					s->ctrl.restart_at = now;
				}
				continue;
			}
			schedule_restart(&s->ctrl, now, now - s->ctrl.started_ms >= SUP_SERVED_MS);
			s->ctrl.restarts++;
			log_msg(LOG_ERR, "control process (pid %d) %s, restarting in %u ms",
				(int)pid, how, (unsigned)(s->ctrl.restart_at - now));
			continue;
		}
		for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
			if (s->w[slot].pid == pid && s->w[slot].state != CHILD_FREE)
				break;
		if (slot == CTRL_RETIRED_SLOT)
			continue; /* not ours (cannot happen: we fork nothing else) */
		{
			struct child *k = &s->w[slot];
			struct counters_block *b = segment_counters(s->seg, slot);
			bool served = worker_was_serving(s, slot, pid);

			__atomic_store_n(&b->pid, 0, __ATOMIC_RELAXED);
			if (k->state == CHILD_DRAINING || k->retiring || s->stopping) {
				log_msg(k->state == CHILD_DRAINING && WIFEXITED(status) &&
							!WEXITSTATUS(status) ?
						LOG_INFO :
						LOG_WARNING,
					"worker/%u (pid %d, generation %u) %s", k->index, (int)pid,
					k->generation, how);
				k->state = CHILD_FREE;
				k->pid = 0;
				k->retiring = false;
				continue;
			}
			schedule_restart(k, now, served);
			k->restarts++;
			log_msg(LOG_ERR, "worker/%u (pid %d) %s, restarting in %u ms", k->index,
				(int)pid, how, (unsigned)(k->restart_at - now));
		}
	}
}

static void stop_child(struct child *k, uint64_t now, unsigned grace_ms)
{
	if (k->state == CHILD_WAITING) {
		k->state = CHILD_FREE;
		return;
	}
	if (k->state != CHILD_RUNNING)
		return;
	kill(k->pid, SIGTERM);
	k->state = CHILD_DRAINING;
	k->kill_at = now + grace_ms;
}

static void begin_shutdown(struct sup *s, int sig)
{
	uint64_t now = now_ms();
	unsigned slot;

	log_msg(LOG_NOTICE, "%s: stopping", strsignal(sig));
	svc_notify_stopping();
	s->stopping = true;
	s->stop_deadline = now + SUP_STOP_MS;
	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
		stop_child(&s->w[slot], now, SUP_STOP_MS);
	stop_child(&s->ctrl, now, SUP_SNAPSHOT_STOP_MS); /* it writes the final snapshot */
}

static void reload(struct sup *s)
{
	char err[CONF_ERR_MAX];
	char names[512];
	bool old[CTRL_RETIRED_SLOT];
	unsigned free_slots;
	struct conf nc;
	uint64_t now;
	unsigned slot, i, n;
	int r;

	svc_notify_reloading();
	log_msg(LOG_NOTICE, "reloading the configuration from %s",
		s->args->config_path ? s->args->config_path : "built-in defaults");
	r = conf_load(&nc, s->args->config_path, s->args->overrides, s->args->noverrides, err,
		      sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, "reload failed, nothing changed: %s", err);
		svc_notify_ready();
		return;
	}
	if (conf_diff_restart_keys(&s->conf, &nc, names, sizeof(names)) > 0)
		log_msg(LOG_WARNING,
			"reload: %s cannot change without a restart, keeping the "
			"running values",
			names);
	conf_keep_restart_keys(&s->conf, &nc);
	n = resolve_workers(&nc);
	for (slot = 0, free_slots = 0; slot < CTRL_RETIRED_SLOT; slot++)
		free_slots += s->w[slot].state == CHILD_FREE || s->w[slot].state == CHILD_WAITING;
	if (free_slots < n) {
		/* Only with many workers and reloads faster than a generation drains. */
		log_msg(LOG_ERR,
			"reload refused: %u counter slots free, %u needed while the "
			"previous generation drains; try again",
			free_slots, n);
		svc_notify_ready();
		return;
	}
	if (s->inherited) {
		s->nworkers = n; /* the workers share the inherited sockets */
		check_coverage(s);
	} else if (n != s->nworkers) {
		/* One socket per worker: grow or shrink the groups first. */
		unsigned was = s->nworkers;

		s->nworkers = n;
		r = net_resize(&s->net, &s->conf, n, can_steer(s));
		if (r < 0) {
			log_errno(LOG_WARNING, r,
				  "reload: workers cannot change from %u to %u without a restart, "
				  "keeping %u",
				  was, n, was);
			s->nworkers = was;
			nc.workers = s->conf.workers;
		} else {
			log_msg(LOG_NOTICE, "reload: workers %u -> %u", was, n);
		}
	}
	log_set_level(nc.log_level);
	s->conf = nc;
	s->generation++;

	/*
	 * Old generation: everything alive now. Start the new one; the old one
	 * is told to drain once the new one serves (see retire_old()), so no
	 * socket is ever without a reader.
	 */
	now = now_ms();
	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		if (s->w[slot].state == CHILD_WAITING)
			s->w[slot].state = CHILD_FREE; /* dead anyway: not restarted */
		old[slot] = s->w[slot].state != CHILD_FREE;
	}
	for (i = 0; i < s->nworkers; i++)
		start_worker(s, i);
	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
		if (old[slot] && s->w[slot].state == CHILD_RUNNING)
			s->w[slot].retiring = true;
	s->retire_by = now + SUP_RETIRE_MS;

	/* The control process picks the new settings up by being replaced. */
	if (s->ctrl.state == CHILD_RUNNING) {
		kill(s->ctrl.pid, CTRL_SIG_REPLACE); /* replaced: no final snapshot */
		stop_child(&s->ctrl, now, SUP_STOP_MS);
		s->ctrl_restart_now = true;
	} else if (s->ctrl.state == CHILD_WAITING) {
		s->ctrl.restart_at = now;
	}
	log_msg(LOG_NOTICE, "reloaded: generation %u, %u workers", s->generation, s->nworkers);
	s->ready_pending = true; /* READY=1 again once the new generation serves */
}

static bool have_children(const struct sup *s)
{
	unsigned slot;

	if (s->ctrl.state == CHILD_RUNNING || s->ctrl.state == CHILD_DRAINING)
		return true;
	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
		if (s->w[slot].state == CHILD_RUNNING || s->w[slot].state == CHILD_DRAINING)
			return true;
	return false;
}

/* Run due restarts and kills; return the poll timeout until the next one. */
static int run_timers(struct sup *s)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	unsigned slot;

	for (slot = 0; slot <= CTRL_RETIRED_SLOT; slot++) {
		struct child *k = slot < CTRL_RETIRED_SLOT ? &s->w[slot] : &s->ctrl;

		if (k->state == CHILD_WAITING && !s->stopping) {
			if (k->restart_at <= now) {
				int r = k == &s->ctrl ? fork_ctrl(s) : fork_worker(s, slot);

				if (r < 0)
					schedule_restart(k, now, false);
			}
			if (k->state == CHILD_WAITING && k->restart_at < next)
				next = k->restart_at;
		} else if (k->state == CHILD_DRAINING) {
			if (k->kill_at <= now) {
				if (k == &s->ctrl)
					log_msg(LOG_WARNING,
						"control process (pid %d) did not stop "
						"in time, killing it",
						(int)k->pid);
				else
					log_msg(LOG_WARNING,
						"worker/%u (pid %d) did not stop in "
						"time, killing it",
						k->index, (int)k->pid);
				kill(k->pid, SIGKILL);
				k->kill_at = now + 60000; /* once; SIGCHLD follows */
			}
			if (k->kill_at < next)
				next = k->kill_at;
		}
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > INT_MAX ? INT_MAX : next - now);
}

/* Every worker of the current generation runs and has chosen its backend. */
static bool generation_serving(struct sup *s)
{
	unsigned slot;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		const struct child *k = &s->w[slot];
		const struct counters_block *b = segment_counters(s->seg, slot);

		if (k->generation != s->generation || k->state == CHILD_FREE ||
		    k->state == CHILD_DRAINING)
			continue;
		if (k->state != CHILD_RUNNING ||
		    __atomic_load_n(&b->pid, __ATOMIC_RELAXED) != (uint32_t)k->pid ||
		    !__atomic_load_n(&b->backend, __ATOMIC_RELAXED))
			return false;
	}
	return true;
}

/*
 * True when every running worker bumped its heartbeat since the last call.
 * A worker that made no progress for a whole period is stuck: kill it, the
 * restart logic brings a fresh one.
 */
static bool workers_progressed(struct sup *s, uint64_t now)
{
	bool all = true;
	unsigned slot;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		struct child *k = &s->w[slot];
		uint64_t hb = __atomic_load_n(&segment_counters(s->seg, slot)->heartbeat,
					      __ATOMIC_RELAXED);

		if (k->state == CHILD_RUNNING && hb == s->last_heartbeat[slot] &&
		    now - k->started_ms > s->watchdog_ms) {
			log_msg(LOG_ERR,
				"worker/%u (pid %d) made no progress for %llu ms, killing it",
				k->index, (int)k->pid, (unsigned long long)s->watchdog_ms);
			kill(k->pid, SIGKILL);
			all = false;
		}
		s->last_heartbeat[slot] = hb;
	}
	return all;
}

/* Requests answered so far, all slots and families (a moment's dip is possible). */
static uint64_t requests_total(struct sup *s)
{
	uint64_t n = 0;
	unsigned slot, f;

	for (slot = 0; slot < SEGMENT_WORKER_SLOTS; slot++) {
		const struct counters_block *b = segment_counters(s->seg, slot);

		for (f = 0; f < COUNTERS_FAM__MAX; f++)
			n += counters_read(b, f, COUNTERS_connect) +
			     counters_read(b, f, COUNTERS_announce) +
			     counters_read(b, f, COUNTERS_scrape);
	}
	return n;
}

/* STATUS=: workers, torrents, peers and requests per second since the last one. */
static void send_status(struct sup *s, uint64_t now)
{
	struct torrents_gauges g;
	uint64_t req = requests_total(s);
	double rate = 0;
	unsigned slot, live = 0;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
		if (s->w[slot].state == CHILD_RUNNING && s->w[slot].generation == s->generation)
			live++;
	if (s->status_at && now > s->status_at && req >= s->status_requests)
		rate = (double)(req - s->status_requests) * 1000.0 / (double)(now - s->status_at);
	s->status_requests = req;
	s->status_at = now;
	torrents_get_gauges(segment_torrents(s->seg), &g);
	svc_notify_status("%u workers, %llu torrents, %llu peers, %.0f requests/s, generation %u",
			  live, (unsigned long long)g.torrents,
			  (unsigned long long)(g.peers4 + g.peers6), rate, s->generation);
}

/* sd_notify duties; returns the poll timeout they need (-1: none). */
/*
 * Drain the previous generation once the new one serves (or at retire_by):
 * until then both read the sockets, so a reload never leaves a socket
 * without a reader.
 */
static void retire_old(struct sup *s, uint64_t now, bool serving)
{
	unsigned slot, n = 0;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		struct child *k = &s->w[slot];

		if (!k->retiring)
			continue;
		if (!serving && now < s->retire_by)
			return;
		k->retiring = false;
		stop_child(k, now, SUP_STOP_MS);
		n++;
	}
	if (n && !serving)
		log_msg(LOG_WARNING,
			"generation %u is not serving after %u ms, draining the "
			"previous one anyway",
			s->generation, SUP_RETIRE_MS);
}

static int service_timers(struct sup *s)
{
	uint64_t now = now_ms();
	int t = -1;

	if (s->ready_pending && !s->stopping) {
		bool serving = generation_serving(s);

		retire_old(s, now, serving);
		if (serving) {
			s->ready_pending = false;
			svc_notify_ready();
			send_status(s, now);
			s->next_status = now + SUP_STATUS_MS;
			log_msg(LOG_INFO, "generation %u serving", s->generation);
		} else {
			t = 20;
		}
	}
	if (!s->ready_pending && !s->stopping) {
		if (now >= s->next_status) {
			send_status(s, now);
			s->next_status = now + SUP_STATUS_MS;
		}
		if (t < 0 || s->next_status - now < (uint64_t)t)
			t = (int)(s->next_status - now);
	}
	if (s->watchdog_ms) {
		if (now >= s->next_watchdog) {
			if (workers_progressed(s, now))
				svc_notify_watchdog();
			s->next_watchdog = now + s->watchdog_ms;
		}
		if (t < 0 || s->next_watchdog - now < (uint64_t)t)
			t = (int)(s->next_watchdog - now);
	}
	return t;
}

static int setup_signals(struct sup *s, sigset_t *ret_old)
{
	struct sigaction sa;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, ret_old) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return -errno;
	return 0;
}

static void main_loop(struct sup *s)
{
	for (;;) {
		struct pollfd pfd = { .fd = s->sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		int timeout, t;

		timeout = run_timers(s);
		if (s->stopping && !have_children(s))
			break;
		t = service_timers(s);
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
		if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
			log_errno(LOG_ERR, -errno, "poll failed");
			continue;
		}
		while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGCHLD:
				reap(s);
				break;
			case SIGTERM:
			case SIGINT:
				if (!s->stopping)
					begin_shutdown(s, (int)si.ssi_signo);
				break;
			case SIGHUP:
				if (!s->stopping)
					reload(s);
				break;
			}
		}
		/* SIGCHLDs coalesce: reap whatever is left each round. */
		reap(s);
	}
}

/*
 * huge_pages: back the segment with 2 MiB pages before any child maps it, so
 * the table's random accesses stop missing the TLB. A re-attached segment
 * is usually huge already, which costs a quick pass.
 */
static int use_huge_pages(struct sup *s)
{
	struct segment_huge h;
	uint64_t t0 = now_ms();
	int r;

	if (s->conf.huge_pages == CONF_HUGE_NO)
		return 0;
	r = segment_huge_pages(s->seg, &h);
	if (r == 0) {
		log_msg(LOG_INFO, "segment: %zu MiB in 2 MiB pages (%llu ms)",
			h.huge * SEGMENT_HUGE_PAGE >> 20, (unsigned long long)(now_ms() - t0));
		return 0;
	}
	if (s->conf.huge_pages == CONF_HUGE_YES)
		return log_errno(LOG_ERR, r,
				 "huge_pages = yes, but only %zu of %zu 2 MiB chunks of the "
				 "segment could be backed by 2 MiB pages",
				 h.huge, h.chunks);
	log_errno(LOG_NOTICE, r,
		  "segment: %zu of %zu 2 MiB chunks in 2 MiB pages, the rest in 4 KiB pages%s",
		  h.huge, h.chunks,
		  r == -EINVAL ? " (needs Linux 6.1 and transparent huge pages not denied)" : "");
	return 0;
}

/*
 * Re-attach the segment the service manager kept for us (a restart loses no
 * peer) when its header and capacity match, else create a fresh one; then
 * hand it to the FD store for the next start.
 */
static int open_segment(struct sup *s, const struct segment_params *sp, struct svc_fds *fds)
{
	uint8_t key[CONNID_KEY_LEN];
	char why[256] = "";
	int r;

	if (fds->swarm >= 0) {
		r = segment_attach(fds->swarm, sp, &s->seg, why, sizeof(why));
		if (r < 0) {
			log_errno(LOG_WARNING, r, "not reusing the stored segment (%s)", why);
			svc_remove_stored_fd(SVC_NAME_SWARM);
			s->seg = NULL;
		} else {
			int64_t n;

			log_msg(LOG_NOTICE, "re-attached the stored segment (%zu MiB)",
				segment_size(s->seg) >> 20);
			/*
			 * A child killed while moving a swarm's block can leak it;
			 * nothing else uses the table yet, so give leaks back now.
			 */
			n = torrents_reclaim(segment_torrents(s->seg));
			if (n < 0)
				log_errno(LOG_WARNING, (int)n,
					  "cannot reclaim leaked arena blocks, ignoring");
			else if (n > 0)
				log_msg(LOG_NOTICE, "reclaimed %lld leaked arena records",
					(long long)n);
		}
		close(fds->swarm);
		fds->swarm = -1;
		if (s->seg && (r = use_huge_pages(s)) < 0)
			return r;
	}
	if (!s->seg) {
		r = connid_new_key(key);
		if (r < 0)
			return log_errno(LOG_ERR, r, "cannot draw the connection-id key");
		r = segment_create(sp, key, &s->seg);
		explicit_bzero(key, sizeof(key));
		if (r < 0)
			return log_errno(LOG_ERR, r, "cannot create the shared segment (%zu bytes)",
					 segment_size_for(sp));
		log_msg(LOG_INFO, "segment: %zu MiB for %llu torrents, %llu + %llu peers",
			segment_size(s->seg) >> 20, (unsigned long long)sp->max_torrents,
			(unsigned long long)sp->max_peers4, (unsigned long long)sp->max_peers6);
		/* Before the snapshot fills it: collapsing empty chunks copies nothing. */
		r = use_huge_pages(s);
		if (r < 0)
			return r;
		/* A fresh table (no stored segment): the newest snapshot, before any child runs. */
		snapshot_startup(&s->conf, s->seg);
	}
	svc_store_fd(segment_fd(s->seg), SVC_NAME_SWARM);
	return 0;
}

int sup_run(const struct conf *c, const struct sup_args *args)
{
	static struct sup sup; /* large (slot table); one per process */
	struct sup *s = &sup;
	struct segment_params sp;
	struct svc_fds fds;
	sigset_t oldmask;
	uint64_t usec;
	unsigned i;
	int r, status = 1;

	memset(s, 0, sizeof(*s));
	memset(&fds, 0, sizeof(fds));
	fds.control = fds.swarm = -1;
	s->conf = *c;
	s->args = args;
	s->pid = getpid();
	s->sigfd = -1;
	s->control_fd = -1;
	s->started_wall = (uint64_t)time(NULL);
	for (i = 0; i < NET_MAX_GROUP; i++)
		s->net.fd4[i] = s->net.fd6[i] = -1;
	load_cpus(s);
	s->nworkers = resolve_workers(c);

	r = setup_signals(s, &oldmask);
	if (r < 0) {
		log_errno(LOG_ERR, r, "cannot set up signal handling");
		goto out;
	}

	r = svc_listen_fds(&fds);
	if (r < 0)
		log_errno(LOG_WARNING, r, "ignoring the descriptors passed by the service manager");

	conf_segment_params(c, &sp);
	r = open_segment(s, &sp, &fds);
	if (r < 0)
		goto out;
	for (i = 0; i < SEGMENT_WORKER_SLOTS; i++) {
		/* A re-attached segment remembers the previous daemon's workers. */
		struct counters_block *b = segment_counters(s->seg, i);

		__atomic_store_n(&b->pid, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->backend, 0, __ATOMIC_RELAXED);
	}

	if (fds.n_udp4 || fds.n_udp6) {
		net_adopt(&s->net, fds.udp4, fds.n_udp4, fds.udp6, fds.n_udp6);
		s->inherited = true;
		fds.n_udp4 = fds.n_udp6 = 0; /* ours now */
		check_coverage(s);
	} else {
		r = net_open(c, s->nworkers, can_steer(s), &s->net);
		if (r < 0)
			goto out;
	}

	if (fds.control >= 0) {
		s->control_fd = fds.control;
		fds.control = -1;
	} else if (c->control_socket[0]) {
		r = ctlsrv_bind(c->control_socket, (gid_t)-1, &s->control_fd);
		if (r < 0)
			log_errno(LOG_WARNING, r,
				  "cannot create the control socket '%s', running without it",
				  c->control_socket);
		else
			s->control_created = true;
	}
	svc_fds_close(&fds); /* whatever we did not take */

	/* Everything that needs root is done: give it up before any fork (daemon/privs.c). */
	r = privs_switch(c, s->control_created ? c->control_socket : NULL);
	if (r < 0)
		goto out;

	if (svc_watchdog_usec(&usec) > 0 && usec >= 2000) {
		s->watchdog_ms = usec / 2000;
		s->next_watchdog = now_ms() + s->watchdog_ms;
	}
	s->ready_pending = true;

	log_msg(LOG_NOTICE, "trackerd %s starting %u worker%s (io_backend %s)", TRACKERD_VERSION,
		s->nworkers, s->nworkers == 1 ? "" : "s",
		c->io_backend == CONF_BACKEND_IO_URING ? "io_uring" :
		c->io_backend == CONF_BACKEND_MMSG     ? "mmsg" :
							 "auto");
	s->generation = 1;
	for (i = 0; i < s->nworkers; i++)
		start_worker(s, i);
	s->ctrl.backoff_ms = SUP_BACKOFF_MIN_MS;
	if (fork_ctrl(s) < 0) {
		s->ctrl.state = CHILD_WAITING;
		s->ctrl.restart_at = now_ms() + SUP_BACKOFF_MIN_MS;
	}

	main_loop(s);
	log_msg(LOG_NOTICE, "stopped");
	status = 0;
out:
	if (s->control_fd >= 0) {
		close(s->control_fd);
		if (s->control_created)
			unlink(c->control_socket);
	}
	svc_fds_close(&fds);
	net_close(&s->net);
	if (s->seg)
		segment_close(s->seg);
	if (s->sigfd >= 0)
		close(s->sigfd);
	return status;
}
