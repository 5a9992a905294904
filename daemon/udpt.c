/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/udpt.c - BEP 15 (UDP tracker protocol) codec.
 *
 * Owns the byte layout of every request and reply of the UDP tracker
 * protocol and the sorting of datagrams into statuses. It must never do
 * I/O, keep state between calls, allocate or log: workers call it once per
 * datagram on the hot path, and the fuzzer calls it with arbitrary bytes.
 *
 * Design notes:
 *
 * - Every field is read with a memcpy-based big-endian load at a named
 *   offset, after the length check that covers it. No struct is laid over
 *   the packet, so alignment and padding never matter.
 *
 * - Order of checks: length >= 16, then the action, then the per-action
 *   length or magic. The connection id, action and txid are filled before
 *   any per-action check, so a caller may answer UDPT_ERR_* statuses once
 *   it has verified the connection id. Action 3 (error) is a reply type; a
 *   client sending it is dropped like an unknown action.
 *
 * - Announce: any length >= 98 is accepted. Bytes past 98 are BEP 41
 *   options and never cause a rejection. They are walked once, bounded by
 *   the datagram: 0 ends the list, 1 is a one-byte NOP, every other type
 *   has a length byte and a payload (BEP 41 gives all types but 0 and 1 a
 *   length byte, so unknown types are skipped, not fatal). Type 2 is URL
 *   data; its payloads form the URL data only when the whole list is well
 *   formed up to the end of the datagram or the EndOfOptions byte. A
 *   truncated option makes the URL data absent and the announce still OK.
 *   Since we do not allocate, struct udpt_urldata points at the first
 *   payload and counts parts; udpt_urldata_copy() concatenates on demand.
 *
 * - Scrape: (len - 16) / 20 complete hashes; a trailing partial hash is
 *   ignored and the count is capped at scrape_max, itself clamped into
 *   1..UDPT_SCRAPE_MAX_LIMIT so a bad setting cannot unbound a reply.
 *
 * - Writers never write partially: they check the whole size first and
 *   return 0 when it does not fit.
 */
#include <endian.h>
#include <string.h>

#include "daemon/udpt.h"

/* Request offsets (BEP 15). */
#define OFF_CONNID 0
#define OFF_ACTION 8
#define OFF_TXID 12
#define OFF_INFO_HASH 16
#define OFF_PEER_ID 36
#define OFF_DOWNLOADED 56
#define OFF_LEFT 64
#define OFF_UPLOADED 72
#define OFF_EVENT 80
#define OFF_IP 84 /* ignored: the source address is the peer */
#define OFF_KEY 88
#define OFF_NUMWANT 92
#define OFF_PORT 96
#define OFF_OPTIONS UDPT_ANNOUNCE_LEN
#define OFF_HASHES UDPT_SCRAPE_HDR_LEN

/* Reply offsets. */
#define ROFF_ACTION 0
#define ROFF_TXID 4
#define ROFF_CONNID 8 /* connect */
#define ROFF_INTERVAL 8 /* announce */
#define ROFF_LEECHERS 12 /* announce */
#define ROFF_SEEDERS 16 /* announce */
#define EOFF_SEEDERS 0 /* scrape entry */
#define EOFF_COMPLETED 4 /* scrape entry */
#define EOFF_LEECHERS 8 /* scrape entry */
#define ROFF_MESSAGE 8 /* error */

/* BEP 41 option types. */
#define OPT_END 0
#define OPT_NOP 1
#define OPT_URLDATA 2

_Static_assert(OFF_PORT + 2 == UDPT_ANNOUNCE_LEN, "announce layout");
_Static_assert(UDPT_SCRAPE_HDR_LEN + UDPT_SCRAPE_MAX_LIMIT * UDPT_HASH_LEN <= UDPT_REQUEST_MAX,
	       "scrape limit fits one request datagram");
_Static_assert(UDPT_ANNOUNCE_HDR_LEN + UDPT_PEERS_MAX4 * UDPT_PEER4_LEN <= UDPT_REPLY_MAX4,
	       "IPv4 peer cap fits the MTU");
_Static_assert(UDPT_ANNOUNCE_HDR_LEN + UDPT_PEERS_MAX6 * UDPT_PEER6_LEN <= UDPT_REPLY_MAX6,
	       "IPv6 peer cap fits the MTU");
_Static_assert(UDPT_PEERS_MAX4 == 242 && UDPT_PEERS_MAX6 == 79, "peer caps");
_Static_assert(UDPT_SCRAPE_REPLY_HDR_LEN + UDPT_SCRAPE_MAX_LIMIT * UDPT_SCRAPE_ENTRY_LEN <=
		       UDPT_REPLY_MAX6,
	       "largest scrape reply fits the MTU");

static uint16_t load_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static uint32_t load_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static void store_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static void store_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/*
 * Walk the BEP 41 option list p[0..n). Sets *ret only when the list is
 * well formed and carries at least one URL-data option.
 */
static void parse_options(const uint8_t *p, size_t n, struct udpt_urldata *ret)
{
	const uint8_t *first = NULL;
	size_t total = 0;
	size_t parts = 0;
	size_t i = 0;

	while (i < n) {
		uint8_t type = p[i];
		size_t olen;

		if (type == OPT_END)
			break;
		if (type == OPT_NOP) {
			i++;
			continue;
		}
		if (n - i < 2)
			return; /* no length byte */
		olen = p[i + 1];
		if (n - i - 2 < olen)
			return; /* payload runs past the datagram */
		if (type == OPT_URLDATA) {
			if (!first)
				first = p + i + 2;
			total += olen;
			parts++;
		}
		i += 2 + olen;
	}
	if (!parts || total > UINT16_MAX || parts > UINT16_MAX)
		return;
	ret->data = first;
	ret->len = (uint16_t)total;
	ret->parts = (uint16_t)parts;
}

static enum udpt_status parse_announce(const uint8_t *buf, size_t len, struct udpt_announce *a)
{
	uint32_t event;

	if (len < UDPT_ANNOUNCE_LEN)
		return UDPT_DROP_ANNOUNCE_SHORT;

	a->info_hash = buf + OFF_INFO_HASH;
	a->peer_id = buf + OFF_PEER_ID;
	a->downloaded = load_be64(buf + OFF_DOWNLOADED);
	a->left = load_be64(buf + OFF_LEFT);
	a->uploaded = load_be64(buf + OFF_UPLOADED);
	event = load_be32(buf + OFF_EVENT);
	a->event = event <= UDPT_EVENT_STOPPED ? event : UDPT_EVENT_NONE;
	a->key = load_be32(buf + OFF_KEY);
	a->numwant = (int32_t)load_be32(buf + OFF_NUMWANT);
	a->port = load_be16(buf + OFF_PORT);
	parse_options(buf + OFF_OPTIONS, len - OFF_OPTIONS, &a->urldata);

	return a->port == 0 ? UDPT_ERR_PORT_ZERO : UDPT_OK;
}

static enum udpt_status parse_scrape(const uint8_t *buf, size_t len, unsigned scrape_max,
				     struct udpt_scrape *s)
{
	size_t count = (len - UDPT_SCRAPE_HDR_LEN) / UDPT_HASH_LEN;

	if (scrape_max < 1)
		scrape_max = 1;
	if (scrape_max > UDPT_SCRAPE_MAX_LIMIT)
		scrape_max = UDPT_SCRAPE_MAX_LIMIT;
	if (count == 0)
		return UDPT_ERR_NO_HASHES;
	if (count > scrape_max)
		count = scrape_max;
	s->hashes = buf + OFF_HASHES;
	s->count = (uint32_t)count;
	return UDPT_OK;
}

enum udpt_status udpt_parse(const uint8_t *buf, size_t len, unsigned scrape_max,
			    struct udpt_request *req)
{
	/*
	 * Fields go straight into *req: a request assembled in a local and
	 * copied out as a whole was read back with wide loads over the narrow
	 * stores just made, a store-forwarding stall per load.
	 */
	memset(req, 0, sizeof(*req));
	if (len < UDPT_MIN_LEN)
		return UDPT_DROP_SHORT;
	req->connection_id = load_be64(buf + OFF_CONNID);
	req->action = load_be32(buf + OFF_ACTION);
	req->txid = load_be32(buf + OFF_TXID);

	switch (req->action) {
	case UDPT_ACTION_CONNECT:
		/* Trailing bytes after the 16 are tolerated. */
		return req->connection_id == UDPT_PROTOCOL_MAGIC ? UDPT_OK : UDPT_DROP_MAGIC;
	case UDPT_ACTION_ANNOUNCE:
		return parse_announce(buf, len, &req->announce);
	case UDPT_ACTION_SCRAPE:
		return parse_scrape(buf, len, scrape_max, &req->scrape);
	default:
		return UDPT_DROP_ACTION;
	}
}

size_t udpt_urldata_copy(const struct udpt_urldata *u, uint8_t *out, size_t cap)
{
	const uint8_t *p;
	size_t done = 0;
	unsigned parts = 0;

	if (!u->data || u->len == 0 || u->len > cap)
		return 0;
	if (u->parts == 1) {
		memcpy(out, u->data, u->len);
		return u->len;
	}
	/*
	 * Walk the option list again from the first URL-data option. udpt_parse
	 * checked that the list is well formed, so each of the u->parts options
	 * lies inside the datagram; done never passes u->len.
	 */
	p = u->data - 2;
	while (parts < u->parts) {
		size_t olen;

		if (p[0] == OPT_NOP) {
			p++;
			continue;
		}
		if (p[0] == OPT_END)
			break;
		olen = p[1];
		if (p[0] == OPT_URLDATA) {
			if (olen > u->len - done)
				break;
			memcpy(out + done, p + 2, olen);
			done += olen;
			parts++;
		}
		p += 2 + olen;
	}
	return done == u->len ? done : 0;
}

bool udpt_status_is_drop(enum udpt_status st)
{
	switch (st) {
	case UDPT_OK:
	case UDPT_ERR_PORT_ZERO:
	case UDPT_ERR_NO_HASHES:
		return false;
	default:
		return true;
	}
}

static const char *const status_names[UDPT_STATUS__MAX] = {
	[UDPT_OK] = "ok",
	[UDPT_DROP_SHORT] = "short",
	[UDPT_DROP_ACTION] = "action",
	[UDPT_DROP_MAGIC] = "magic",
	[UDPT_DROP_ANNOUNCE_SHORT] = "announce_short",
	[UDPT_ERR_PORT_ZERO] = "port_zero",
	[UDPT_ERR_NO_HASHES] = "no_hashes",
};

const char *udpt_status_name(enum udpt_status st)
{
	if ((unsigned)st >= UDPT_STATUS__MAX)
		return NULL;
	return status_names[st];
}

const char *udpt_status_message(enum udpt_status st)
{
	switch (st) {
	case UDPT_ERR_PORT_ZERO:
		return "port 0 is not allowed";
	case UDPT_ERR_NO_HASHES:
		return "scrape needs at least one info-hash";
	default:
		return NULL;
	}
}

unsigned udpt_numwant(int32_t numwant, unsigned numwant_default, unsigned numwant_max, bool ipv6)
{
	unsigned n = numwant <= 0 ? numwant_default : (unsigned)numwant;
	unsigned cap = ipv6 ? UDPT_PEERS_MAX6 : UDPT_PEERS_MAX4;

	if (n > numwant_max)
		n = numwant_max;
	if (n > cap)
		n = cap;
	return n;
}

size_t udpt_write_connect(uint8_t *out, size_t cap, uint32_t txid, uint64_t connection_id)
{
	if (cap < UDPT_CONNECT_LEN)
		return 0;
	store_be32(out + ROFF_ACTION, UDPT_ACTION_CONNECT);
	store_be32(out + ROFF_TXID, txid);
	store_be64(out + ROFF_CONNID, connection_id);
	return UDPT_CONNECT_LEN;
}

size_t udpt_write_announce_header(uint8_t *out, size_t cap, uint32_t txid, uint32_t interval,
				  uint32_t leechers, uint32_t seeders)
{
	if (cap < UDPT_ANNOUNCE_HDR_LEN)
		return 0;
	store_be32(out + ROFF_ACTION, UDPT_ACTION_ANNOUNCE);
	store_be32(out + ROFF_TXID, txid);
	store_be32(out + ROFF_INTERVAL, interval);
	store_be32(out + ROFF_LEECHERS, leechers);
	store_be32(out + ROFF_SEEDERS, seeders);
	return UDPT_ANNOUNCE_HDR_LEN;
}

size_t udpt_announce_reply_len(unsigned npeers, bool ipv6)
{
	return UDPT_ANNOUNCE_HDR_LEN + (size_t)npeers * (ipv6 ? UDPT_PEER6_LEN : UDPT_PEER4_LEN);
}

size_t udpt_write_scrape_header(uint8_t *out, size_t cap, uint32_t txid)
{
	if (cap < UDPT_SCRAPE_REPLY_HDR_LEN)
		return 0;
	store_be32(out + ROFF_ACTION, UDPT_ACTION_SCRAPE);
	store_be32(out + ROFF_TXID, txid);
	return UDPT_SCRAPE_REPLY_HDR_LEN;
}

size_t udpt_write_scrape_entry(uint8_t *out, size_t cap, unsigned i, uint32_t seeders,
			       uint32_t completed, uint32_t leechers)
{
	size_t off = UDPT_SCRAPE_REPLY_HDR_LEN + (size_t)i * UDPT_SCRAPE_ENTRY_LEN;
	uint8_t *e;

	if (cap < off || cap - off < UDPT_SCRAPE_ENTRY_LEN)
		return 0;
	e = out + off;
	store_be32(e + EOFF_SEEDERS, seeders);
	store_be32(e + EOFF_COMPLETED, completed);
	store_be32(e + EOFF_LEECHERS, leechers);
	return UDPT_SCRAPE_ENTRY_LEN;
}

size_t udpt_scrape_reply_len(unsigned count)
{
	return UDPT_SCRAPE_REPLY_HDR_LEN + (size_t)count * UDPT_SCRAPE_ENTRY_LEN;
}

size_t udpt_write_error(uint8_t *out, size_t cap, uint32_t txid, const char *msg)
{
	size_t mlen = msg ? strnlen(msg, UDPT_ERROR_MSG_MAX) : 0;

	if (cap < UDPT_ERROR_HDR_LEN + mlen)
		return 0;
	store_be32(out + ROFF_ACTION, UDPT_ACTION_ERROR);
	store_be32(out + ROFF_TXID, txid);
	if (mlen)
		memcpy(out + ROFF_MESSAGE, msg, mlen);
	return UDPT_ERROR_HDR_LEN + mlen;
}
