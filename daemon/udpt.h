/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/udpt.h - BEP 15 (UDP tracker protocol) codec.
 *
 * Pure functions: buffers in, buffers out. No I/O, no globals, no logging, no
 * allocation, so the codec is safe on the worker hot path and trivially
 * fuzzable. Parsing never trusts a length: every field is read at a named
 * offset with a big-endian load after the length was checked.
 *
 * The parser sorts every datagram into one status (see enum udpt_status):
 * UDPT_OK, a silent drop with a reason, or a request that is well formed
 * enough to be answered with an error reply once its connection id has been
 * verified (port 0, scrape without hashes). Each status has a stable name
 * for counters.
 */
#ifndef TRACKER_DAEMON_UDPT_H
#define TRACKER_DAEMON_UDPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UDPT_PROTOCOL_MAGIC 0x41727101980ULL

#define UDPT_MIN_LEN 16 /* shortest datagram of any kind */
#define UDPT_CONNECT_LEN 16 /* connect request and reply */
#define UDPT_ANNOUNCE_LEN 98 /* announce request without BEP 41 options */
#define UDPT_SCRAPE_HDR_LEN 16 /* scrape request before the hashes */
#define UDPT_ANNOUNCE_HDR_LEN 20 /* announce reply before the peers */
#define UDPT_SCRAPE_REPLY_HDR_LEN 8
#define UDPT_SCRAPE_ENTRY_LEN 12
#define UDPT_ERROR_HDR_LEN 8
#define UDPT_HASH_LEN 20
#define UDPT_PEER_ID_LEN 20
#define UDPT_PEER4_LEN 6 /* compact IPv4 peer: address, port */
#define UDPT_PEER6_LEN 18 /* compact IPv6 peer: address, port */

/* Hard upper bound for the scrape_max setting: 16 + 74 * 20 = 1496 bytes. */
#define UDPT_SCRAPE_MAX_LIMIT 74
/*
 * Largest request datagram the workers receive in full, on every backend.
 * Above a full 74-hash scrape (1496 bytes), so that a longer scrape is
 * answered for its first scrape_max hashes rather than dropped; anything
 * longer is dropped as truncated.
 */
#define UDPT_REQUEST_MAX 2048
/*
 * Largest reply payload that fits one 1500-byte MTU datagram:
 * 1500 - 20 (IPv4) - 8 (UDP) and 1500 - 40 (IPv6) - 8 (UDP).
 */
#define UDPT_REPLY_MAX4 1472
#define UDPT_REPLY_MAX6 1452
#define UDPT_REPLY_MAX UDPT_REPLY_MAX4
/* Most peers an announce reply may carry per family: 242 and 79. */
#define UDPT_PEERS_MAX4 ((UDPT_REPLY_MAX4 - UDPT_ANNOUNCE_HDR_LEN) / UDPT_PEER4_LEN)
#define UDPT_PEERS_MAX6 ((UDPT_REPLY_MAX6 - UDPT_ANNOUNCE_HDR_LEN) / UDPT_PEER6_LEN)
/* Longest error message we send (keeps error replies small). */
#define UDPT_ERROR_MSG_MAX 64

enum udpt_action {
	UDPT_ACTION_CONNECT = 0,
	UDPT_ACTION_ANNOUNCE = 1,
	UDPT_ACTION_SCRAPE = 2,
	UDPT_ACTION_ERROR = 3,
};

/* Announce events; values outside 0..3 are normalised to NONE. */
enum udpt_event {
	UDPT_EVENT_NONE = 0,
	UDPT_EVENT_COMPLETED = 1,
	UDPT_EVENT_STARTED = 2,
	UDPT_EVENT_STOPPED = 3,
};

enum udpt_status {
	UDPT_OK = 0,
	/* Dropped without a reply. */
	UDPT_DROP_SHORT, /* fewer than 16 bytes */
	UDPT_DROP_ACTION, /* unknown action, or action 3 from a client */
	UDPT_DROP_MAGIC, /* connect without the protocol magic */
	UDPT_DROP_ANNOUNCE_SHORT, /* announce of fewer than 98 bytes */
	/* Answered with an error reply once the connection id is verified. */
	UDPT_ERR_PORT_ZERO, /* announce with port 0: never stored */
	UDPT_ERR_NO_HASHES, /* scrape with no complete info-hash */
	UDPT_STATUS__MAX
};

/*
 * BEP 41 URL data, decoded from the announce options when well formed.
 *
 * The codec does not allocate, so the concatenation is not materialised:
 * data points at the payload of the first URL-data option and len is the
 * total of all URL-data payloads. When parts == 1 (what clients send for
 * paths of up to 255 bytes) data[0..len) is the whole URL data; otherwise
 * copy it out with udpt_urldata_copy(). Present but empty (one option of
 * length 0) is data != NULL, len == 0; absent is data == NULL.
 */
struct udpt_urldata {
	const uint8_t *data; /* points into the request datagram, NULL if absent */
	uint16_t len; /* concatenation of all URL-data options, <= 255 each */
	uint16_t parts; /* number of URL-data options, 0 when absent */
};

struct udpt_announce {
	const uint8_t *info_hash; /* 20 bytes, points into the datagram */
	const uint8_t *peer_id; /* 20 bytes, points into the datagram */
	uint64_t downloaded;
	uint64_t left;
	uint64_t uploaded;
	uint32_t event; /* enum udpt_event, normalised */
	uint32_t key;
	int32_t numwant; /* as sent; see udpt_numwant() */
	uint16_t port; /* announced listen port, host order */
	struct udpt_urldata urldata;
};

struct udpt_scrape {
	const uint8_t *hashes; /* count * 20 bytes, points into the datagram */
	uint32_t count; /* complete hashes, already capped at scrape_max */
};

struct udpt_request {
	uint64_t connection_id; /* host order */
	uint32_t action; /* enum udpt_action */
	uint32_t txid; /* transaction id, echoed as sent */
	union {
		struct udpt_announce announce;
		struct udpt_scrape scrape;
	};
};

/*
 * Parse one datagram. scrape_max (1..UDPT_SCRAPE_MAX_LIMIT) caps the hashes
 * answered. Always fills req->action and ->txid when len >= 16, so that
 * UDPT_ERR_* statuses can be answered; the rest only for UDPT_OK.
 * Pointers in req point into buf.
 *
 * In detail: *req is always written (zeroed first); connection_id,
 * action and txid are set whenever len >= 16; for UDPT_ERR_PORT_ZERO the
 * announce is filled as for UDPT_OK (so the caller can verify the
 * connection id before answering); for UDPT_ERR_NO_HASHES the scrape has
 * count 0 and hashes NULL. scrape_max outside 1..UDPT_SCRAPE_MAX_LIMIT is
 * clamped into that range.
 */
enum udpt_status udpt_parse(const uint8_t *buf, size_t len, unsigned scrape_max,
			    struct udpt_request *req);

/*
 * Copy the concatenated URL data of an announce parsed by udpt_parse() into
 * out. Returns the number of bytes copied (u->len), or 0 when the URL data is
 * absent, empty, or longer than cap (never a partial copy). No NUL is added.
 */
size_t udpt_urldata_copy(const struct udpt_urldata *u, uint8_t *out, size_t cap);

/* True for statuses that are dropped without any reply. */
bool udpt_status_is_drop(enum udpt_status st);
/* Stable lower-case name for counters ("short", "port_zero", ...). */
const char *udpt_status_name(enum udpt_status st);
/* Error-reply text for UDPT_ERR_* statuses, NULL for the others. */
const char *udpt_status_message(enum udpt_status st);

/*
 * Number of peers to put in an announce reply: numwant <= 0 means
 * numwant_default; the result is capped at numwant_max and at the MTU bound
 * of the family (UDPT_PEERS_MAX4 or UDPT_PEERS_MAX6). ipv6: the requester
 * is an IPv6 (not IPv4-mapped) peer.
 */
unsigned udpt_numwant(int32_t numwant, unsigned numwant_default, unsigned numwant_max, bool ipv6);

/*
 * Reply writers. Each writes into out (capacity cap) and returns the number
 * of bytes written, or 0 when cap is too small (never a partial write).
 */
size_t udpt_write_connect(uint8_t *out, size_t cap, uint32_t txid, uint64_t connection_id);

/*
 * Announce reply header (20 bytes). The caller appends npeers compact peer
 * entries (6 or 18 bytes each, network order) right after it; see
 * udpt_announce_reply_len().
 */
size_t udpt_write_announce_header(uint8_t *out, size_t cap, uint32_t txid, uint32_t interval,
				  uint32_t leechers, uint32_t seeders);
size_t udpt_announce_reply_len(unsigned npeers, bool ipv6);

/* Scrape reply header (8 bytes) and one 12-byte entry at index i. */
size_t udpt_write_scrape_header(uint8_t *out, size_t cap, uint32_t txid);
size_t udpt_write_scrape_entry(uint8_t *out, size_t cap, unsigned i, uint32_t seeders,
			       uint32_t completed, uint32_t leechers);
size_t udpt_scrape_reply_len(unsigned count);

/* Error reply: action 3, txid, message (truncated to UDPT_ERROR_MSG_MAX). */
size_t udpt_write_error(uint8_t *out, size_t cap, uint32_t txid, const char *msg);

#endif /* TRACKER_DAEMON_UDPT_H */
