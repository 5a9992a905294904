/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_net.c - UDP socket groups on loopback.
 *
 * Binds real sockets on 127.0.0.1 and ::1 with port 0: every socket of a
 * group gets the same ephemeral port, SO_REUSEPORT only with several
 * sockets, IPV6_V6ONLY as configured, close-on-exec and non-blocking, and
 * the CPU-steering program when asked for. Also the adoption of inherited
 * sockets and a bind conflict.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/conf.h"
#include "daemon/net.h"

static bool have_ipv6(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static void loopback_conf(struct conf *c, bool v6)
{
	conf_defaults(c);
	c->listen4_enabled = true;
	memset(&c->listen4, 0, sizeof(c->listen4));
	c->listen4.sin_family = AF_INET;
	c->listen4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->listen6_enabled = v6;
	memset(&c->listen6, 0, sizeof(c->listen6));
	c->listen6.sin6_family = AF_INET6;
	c->listen6.sin6_addr = in6addr_loopback;
	c->socket_recv_buffer = 0;
	c->socket_send_buffer = 0;
}

static int intopt(int fd, int level, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	assert_int_equal(getsockopt(fd, level, opt, &v, &l), 0);
	return v;
}

static unsigned bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &l), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void test_one_socket_per_family(void **state)
{
	bool v6 = have_ipv6();
	struct net_sockets s;
	struct conf c;

	(void)state;
	loopback_conf(&c, v6);
	assert_int_equal(net_open(&c, 1, true, &s), 0);
	assert_int_equal(s.n4, 1);
	assert_int_equal(s.n6, v6 ? 1 : 0);
	assert_true(s.fd4[0] >= 0);
	assert_int_equal(s.fd4[1], -1);
	assert_int_not_equal(s.port4, 0);
	assert_int_equal(bound_port(s.fd4[0]), s.port4);
	/* One socket: no reuseport group, so a second daemon cannot share the port. */
	assert_int_equal(intopt(s.fd4[0], SOL_SOCKET, SO_REUSEPORT), 0);
	assert_false(s.steered4);
	assert_true(fcntl(s.fd4[0], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(s.fd4[0], F_GETFL) & O_NONBLOCK);
	if (v6) {
		assert_int_equal(intopt(s.fd6[0], IPPROTO_IPV6, IPV6_V6ONLY), 1);
		assert_true(fcntl(s.fd6[0], F_GETFD) & FD_CLOEXEC);
	}
	net_close(&s);
	assert_int_equal(s.fd4[0], -1);
	assert_int_equal(s.n4, 0);
}

static void test_group_shares_an_ephemeral_port(void **state)
{
	bool v6 = have_ipv6();
	struct net_sockets s;
	struct conf c;
	unsigned i;

	(void)state;
	loopback_conf(&c, v6);
	assert_int_equal(net_open(&c, 3, true, &s), 0);
	assert_int_equal(s.n4, 3);
	for (i = 0; i < 3; i++) {
		assert_true(s.fd4[i] >= 0);
		assert_int_equal(bound_port(s.fd4[i]), s.port4);
		assert_int_equal(intopt(s.fd4[i], SOL_SOCKET, SO_REUSEPORT), 1);
		/*
		 * IPV6_V6ONLY itself is not checked here: the kernel forces it on
		 * for a socket bound to a specific address such as ::1.
		 */
		if (v6)
			assert_int_equal(bound_port(s.fd6[i]), s.port6);
	}
	assert_int_equal(s.fd4[3], -1);
	/* The classic BPF program is accepted by any kernel since 4.5. */
	assert_true(s.steered4);
	net_close(&s);

	/* Without steering the group is still bound, hashed by the kernel. */
	assert_int_equal(net_open(&c, 2, false, &s), 0);
	assert_false(s.steered4);
	assert_int_equal(bound_port(s.fd4[1]), s.port4);
	net_close(&s);
}

static void test_group_delivers_to_its_sockets(void **state)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct net_sockets s;
	struct conf c;
	char buf[8];
	int fd, i, got = 0;

	(void)state;
	loopback_conf(&c, false);
	assert_int_equal(net_open(&c, 2, true, &s), 0);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(s.port4);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	/* Loopback delivery is synchronous: every datagram is queued on one of the two. */
	for (i = 0; i < 2; i++)
		while (recv(s.fd4[i], buf, sizeof(buf), MSG_DONTWAIT) == 1)
			got++;
	assert_int_equal(got, 8);
	close(fd);
	net_close(&s);
}

static void test_bind_conflict_fails_cleanly(void **state)
{
	struct net_sockets a, b;
	struct conf c;

	(void)state;
	loopback_conf(&c, false);
	assert_int_equal(net_open(&c, 1, true, &a), 0);
	c.listen4.sin_port = htons(a.port4);
	assert_int_equal(net_open(&c, 1, true, &b), -EADDRINUSE);
	/* A reuseport group cannot join a socket bound without SO_REUSEPORT. */
	assert_int_equal(net_open(&c, 2, true, &b), -EADDRINUSE);
	net_close(&a);
}

static void test_adopt_inherited(void **state)
{
	struct net_sockets s;
	int fd4[2];

	(void)state;
	fd4[0] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	fd4[1] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd4[0] >= 0 && fd4[1] >= 0);
	net_adopt(&s, fd4, 2, NULL, 0);
	assert_int_equal(s.n4, 2);
	assert_int_equal(s.n6, 0);
	assert_int_equal(s.fd4[0], fd4[0]);
	assert_int_equal(s.fd4[1], fd4[1]);
	assert_int_equal(s.fd4[2], -1);
	assert_int_equal(s.fd6[0], -1);
	net_close(&s);
	assert_int_equal(fcntl(fd4[0], F_GETFD), -1); /* closed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_socket_per_family),
		cmocka_unit_test(test_group_shares_an_ephemeral_port),
		cmocka_unit_test(test_group_delivers_to_its_sockets),
		cmocka_unit_test(test_bind_conflict_fails_cleanly),
		cmocka_unit_test(test_adopt_inherited),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
