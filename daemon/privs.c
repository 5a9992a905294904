/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/privs.c - switch from root to the configured user, keep nothing.
 *
 * Design notes:
 * - Where: the supervisor, once, after everything that needs root is done
 *   (UDP sockets bound, buffers forced, segment created, control socket
 *   bound) and before the first fork, so no child ever runs as root and no
 *   later step (a worker restart, a reload) could use privilege. What a
 *   reload would need root for (binding a port below 1024 for an extra
 *   worker's socket, forcing buffers past rmem_max) then fails and is
 *   reported by that reload; the running sockets are unaffected.
 * - Order: supplementary groups, then gid, then uid (a gid change needs
 *   root). The capability bounding set is emptied while we still have
 *   CAP_SETPCAP; setresuid() away from uid 0 clears the permitted,
 *   effective and ambient sets; the inheritable set is cleared with
 *   capset(). Then PR_SET_NO_NEW_PRIVS, and a check that setuid(0) now
 *   fails, so a silent half-switch is impossible.
 * - Fallbacks: the default user "trackerd" may not exist outside a package
 *   install; then "nobody" (and its primary group) with a warning, never
 *   root. user = root is an explicit opt-out (logged as a warning).
 * - Paths: the state directory is created (0750) and chowned to the user so
 *   snapshots and the ban list can be written; the control socket node is
 *   chowned to user and group, mode 0660, so root and the group can
 *   connect. Its directory is not touched (it may be shared, e.g. /run):
 *   if the user cannot unlink the node at exit, the next start replaces
 *   the stale socket anyway.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/privs.h"

#define PRIVS_FALLBACK_USER "nobody"

static int lookup_user(const char *name, struct passwd *pw, char *buf, size_t len)
{
	struct passwd *res = NULL;
	int r = getpwnam_r(name, pw, buf, len, &res);

	if (r)
		return -r;
	return res ? 0 : -ESRCH;
}

static int lookup_group(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int r = getgrnam_r(name, &gr, buf, sizeof(buf), &res);

	if (r)
		return -r;
	if (!res)
		return -ESRCH;
	*ret = gr.gr_gid;
	return 0;
}

int privs_resolve(const struct conf *c, struct privs_target *ret)
{
	struct privs_target t = { 0 };
	struct passwd pw;
	struct group *gr;
	char buf[4096];
	int r;

	if (geteuid() != 0 || !strcmp(c->user, "root")) {
		*ret = t;
		return 0;
	}
	r = lookup_user(c->user, &pw, buf, sizeof(buf));
	if (r < 0) {
		log_msg(LOG_WARNING, "user '%s' does not exist, running as '%s' instead", c->user,
			PRIVS_FALLBACK_USER);
		r = lookup_user(PRIVS_FALLBACK_USER, &pw, buf, sizeof(buf));
		if (r < 0)
			return log_errno(LOG_ERR, r, "neither user '%s' nor '%s' exists", c->user,
					 PRIVS_FALLBACK_USER);
	}
	if (pw.pw_uid == 0) {
		log_msg(LOG_WARNING, "user '%s' is root: not giving up privileges", pw.pw_name);
		*ret = t;
		return 0;
	}
	t.active = true;
	t.uid = pw.pw_uid;
	snprintf(t.user, sizeof(t.user), "%s", pw.pw_name);
	r = lookup_group(c->group, &t.gid);
	if (r < 0) {
		t.gid = pw.pw_gid;
		gr = getgrgid(t.gid);
		log_msg(LOG_WARNING, "group '%s' does not exist, using '%s' (the group of '%s')",
			c->group, gr ? gr->gr_name : "?", t.user);
		snprintf(t.group, sizeof(t.group), "%s", gr ? gr->gr_name : "?");
	} else {
		snprintf(t.group, sizeof(t.group), "%.63s", c->group);
	}
	if (t.gid == 0) {
		log_msg(LOG_ERR, "refusing to run with group id 0 as user '%s'", t.user);
		return -EPERM;
	}
	*ret = t;
	return 0;
}

static int prepare_paths(const struct privs_target *t, const struct conf *c,
			 const char *control_path)
{
	const char *dir = c->state_directory;
	int r;

	if (dir[0] && strcmp(dir, "/")) {
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			log_errno(LOG_WARNING, -errno, "cannot create the state directory '%s'",
				  dir);
		else if (chown(dir, t->uid, t->gid) < 0)
			log_errno(LOG_WARNING, -errno,
				  "cannot give the state directory '%s' to '%s', ignoring", dir,
				  t->user);
	}
	if (control_path) {
		if (chown(control_path, t->uid, t->gid) < 0 || chmod(control_path, 0660) < 0) {
			r = -errno;
			return log_errno(LOG_ERR, r, "cannot give the control socket '%s' to '%s'",
					 control_path, t->user);
		}
	}
	return 0;
}

static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

static int empty_bounding_set(void)
{
	for (unsigned long cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the last capability this kernel knows */
			return -errno;
		}
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
	return 0;
}

int privs_switch(const struct conf *c, const char *control_path)
{
	struct privs_target t;
	int r;

	r = privs_resolve(c, &t);
	if (r < 0)
		return r;
	if (t.active) {
		r = prepare_paths(&t, c, control_path);
		if (r < 0)
			return r;
		if (initgroups(t.user, t.gid) < 0)
			return log_errno(LOG_ERR, -errno, "cannot set the groups of '%s'", t.user);
		r = empty_bounding_set();
		if (r < 0)
			return log_errno(LOG_ERR, r, "cannot empty the capability bounding set");
		if (setresgid(t.gid, t.gid, t.gid) < 0)
			return log_errno(LOG_ERR, -errno, "cannot switch to group '%s'", t.group);
		if (setresuid(t.uid, t.uid, t.uid) < 0)
			return log_errno(LOG_ERR, -errno, "cannot switch to user '%s'", t.user);
		r = drop_capabilities();
		if (r < 0)
			return log_errno(LOG_ERR, r, "cannot clear the capabilities");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		/* Fatal after a switch; else the service manager may have set it already. */
		if (t.active)
			return log_errno(LOG_ERR, -errno, "cannot set no_new_privs");
		log_errno(LOG_WARNING, -errno, "cannot set no_new_privs, ignoring");
	}
	if (t.active) {
		if (setuid(0) == 0 || seteuid(0) == 0) {
			log_msg(LOG_ERR, "root could be regained after switching to '%s'", t.user);
			return -EPERM;
		}
		log_msg(LOG_NOTICE,
			"running as user '%s' (uid %u), group '%s' (gid %u), no capabilities, "
			"no_new_privs",
			t.user, (unsigned)t.uid, t.group, (unsigned)t.gid);
	} else if (geteuid() == 0) {
		log_msg(LOG_WARNING, "running as root (user = root): privileges are not given up");
	}
	return 0;
}
