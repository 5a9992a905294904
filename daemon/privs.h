/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/privs.h - give up root after start-up.
 *
 * Started as root (outside systemd, or by a unit without User=), the
 * supervisor binds its sockets, creates the segment and the control
 * socket, applies the socket buffers (SO_RCVBUFFORCE needs privilege), and
 * then calls privs_switch() before it forks any child: from there on every
 * process of trackerd runs as the configured user and group with no
 * capabilities and no_new_privs set. Not started as root (the systemd unit
 * sets User=), there is nothing to give up and privs_switch() only sets
 * no_new_privs. Logs (top layer).
 */
#ifndef TRACKER_DAEMON_PRIVS_H
#define TRACKER_DAEMON_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

struct conf;

/* Who privs_switch() would become. */
struct privs_target {
	bool active; /* false: not root, or user = root: no switch */
	uid_t uid;
	gid_t gid;
	char user[64];
	char group[64];
};

/*
 * Resolve conf->user and conf->group: a missing user falls back to
 * "nobody", a missing group to the user's primary group, each with a
 * warning. Returns 0, or -ESRCH when not even the fallback exists.
 */
int privs_resolve(const struct conf *c, struct privs_target *ret);

/*
 * As root: give the target user the paths it writes later (the state
 * directory, created 0750 if missing, and the control socket node when
 * control_path is not NULL: owner the user, group the group, mode 0660),
 * then switch: supplementary groups of the user, gid, uid (real, effective
 * and saved), an empty capability bounding set, no ambient or inheritable
 * capabilities, PR_SET_NO_NEW_PRIVS; and verify root cannot be regained.
 * Not root: sets PR_SET_NO_NEW_PRIVS only. Returns 0 or -errno (logged).
 */
int privs_switch(const struct conf *c, const char *control_path);

#endif /* TRACKER_DAEMON_PRIVS_H */
