/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/segment.c - create, attach and verify the shared-memory segment.
 *
 * The segment is one memfd (MFD_CLOEXEC, sealed against shrinking and
 * growing once sized), mapped MAP_SHARED. Its layout is computed from the
 * capacity alone (shm/layout.c), so an attacher recomputes it from the
 * capacity recorded in the header and compares every offset and size:
 * magic, layout version, header and structure sizes, the fd's size, the
 * capacity (and the caller's expected capacity), keys present. Any
 * mismatch is refused with a reason, never "repaired".
 *
 * Fresh memfd pages are zero, which is the empty state of every region
 * except what segment_create() formats: the arena headers (empty free
 * lists), the stripe locks and the keys.
 */
#include "shm/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/acl.h"
#include "shm/bans.h"
#include "shm/counters.h"
#include "shm/layout.h"
#include "shm/ratelimit.h"
#include "shm/torrents.h"

struct segment {
	int fd;
	size_t size;
	uint8_t *base;
	struct layout_hdr *hdr;
	struct torrents *t;
	struct acl *acl;
	struct ratelimit *rl;
	struct bans *bans;
};

size_t segment_size_for(const struct segment_params *p)
{
	struct layout l;

	if (layout_compute(p, &l))
		return 0;
	return (size_t)l.total_size;
}

/*
 * Map the whole fd at a 2 MiB-aligned address, so that whatever part of it
 * the kernel backs with 2 MiB pages is mapped by single page-table entries
 * (segment_huge_pages()). Workers inherit the address with the mapping.
 */
static int map_fd(int fd, size_t size, uint8_t **ret)
{
	const size_t room = size + SEGMENT_HUGE_PAGE;
	uint8_t *res, *at;
	void *m;

	res = mmap(NULL, room, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	at = res + ((SEGMENT_HUGE_PAGE - ((uintptr_t)res & (SEGMENT_HUGE_PAGE - 1))) &
		    (SEGMENT_HUGE_PAGE - 1));
	m = mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	if (m == MAP_FAILED) {
		int rc = -errno;

		munmap(res, room);
		return rc;
	}
	/* Give back the reservation around the mapping (size is page-aligned). */
	if (at > res)
		munmap(res, (size_t)(at - res));
	if (res + room > at + size)
		munmap(at + size, (size_t)(res + room - (at + size)));
	/* Where shmem huge pages are allowed on fault, this is all it takes. */
	(void)madvise(m, size, MADV_HUGEPAGE);
	*ret = m;
	return 0;
}

static int fill_random(uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = getrandom(buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static int finish(struct segment *seg, struct segment **ret_seg)
{
	int rc = torrents_bind(seg->base, &seg->t);

	if (rc)
		return rc;
	rc = acl_bind(seg->base + seg->hdr->l.off_acl, seg->hdr->l.max_access, &seg->acl);
	if (rc) {
		torrents_unbind(seg->t);
		return rc;
	}
	rc = ratelimit_bind(seg->base + seg->hdr->l.off_ratelimit,
			    ratelimit_region_size(seg->hdr->l.ratelimit_slots), &seg->rl);
	if (!rc)
		rc = bans_bind(seg->base + seg->hdr->l.off_bans,
			       bans_region_size((uint32_t)seg->hdr->l.ban_max), &seg->bans);
	if (rc) {
		ratelimit_unbind(seg->rl);
		acl_unbind(seg->acl);
		torrents_unbind(seg->t);
		return rc;
	}
	*ret_seg = seg;
	return 0;
}

int segment_create(const struct segment_params *p, const uint8_t connid_key[SEGMENT_KEY_LEN],
		   struct segment **ret_seg)
{
	struct segment *seg;
	struct layout l;
	int rc;

	rc = layout_compute(p, &l);
	if (rc)
		return rc;
	seg = calloc(1, sizeof(*seg));
	if (!seg)
		return -ENOMEM;
	seg->fd = memfd_create("trackerd-store", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (seg->fd < 0) {
		rc = -errno;
		free(seg);
		return rc;
	}
	seg->size = (size_t)l.total_size;
	if (ftruncate(seg->fd, (off_t)seg->size) < 0 ||
	    fcntl(seg->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = map_fd(seg->fd, seg->size, &seg->base);
	if (rc)
		goto fail;
	seg->hdr = (struct layout_hdr *)(void *)seg->base;
	/* mmap() without MAP_FIXED never maps page 0: NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
	seg->hdr->version = LAYOUT_VERSION;
	seg->hdr->hdr_size = sizeof(struct layout_hdr);
	seg->hdr->sizeof_stripe = sizeof(struct layout_stripe);
	seg->hdr->sizeof_trec = sizeof(struct layout_trec);
	seg->hdr->sizeof_counters = sizeof(struct counters_block);
	seg->hdr->sizeof_arena_hdr = sizeof(struct arena_hdr);
	seg->hdr->worker_slots = SEGMENT_WORKER_SLOTS;
	seg->hdr->l = l;
	memcpy(seg->hdr->connid_key, connid_key, SEGMENT_KEY_LEN);
	rc = fill_random(seg->hdr->stripe_key, SEGMENT_KEY_LEN);
	if (rc)
		goto fail_unmap;
	rc = torrents_format(seg->base);
	if (!rc)
		rc = ratelimit_format(seg->base + l.off_ratelimit, l.ratelimit_slots);
	if (rc)
		goto fail_unmap;
	bans_format(seg->base + l.off_bans, (uint32_t)l.ban_max);
	/* Magic last: a half-formatted segment never verifies. */
	__atomic_store_n(&seg->hdr->magic, LAYOUT_MAGIC, __ATOMIC_RELEASE);
	rc = finish(seg, ret_seg);
	if (rc)
		goto fail_unmap;
	return 0;
fail_unmap:
	munmap(seg->base, seg->size);
fail:
	close(seg->fd);
	free(seg);
	return rc;
}

static int verify(const struct layout_hdr *h, size_t fd_size, const struct segment_params *expect,
		  char *why, size_t whylen)
{
	struct segment_params p;
	struct layout l;
	static const uint8_t zero[SEGMENT_KEY_LEN];

	/* h is a mapping (never page 0): NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
	if (h->magic != LAYOUT_MAGIC) {
		snprintf(why, whylen, "bad magic %#llx (not a trackerd segment)",
			 (unsigned long long)h->magic);
		return -EPROTO;
	}
	if (h->version != LAYOUT_VERSION) {
		snprintf(why, whylen, "layout version %u, this trackerd uses %u", h->version,
			 (unsigned)LAYOUT_VERSION);
		return -EPROTO;
	}
	if (h->hdr_size != sizeof(*h) || h->sizeof_stripe != sizeof(struct layout_stripe) ||
	    h->sizeof_trec != sizeof(struct layout_trec) ||
	    h->sizeof_counters != sizeof(struct counters_block) ||
	    h->sizeof_arena_hdr != sizeof(struct arena_hdr) ||
	    h->worker_slots != SEGMENT_WORKER_SLOTS) {
		snprintf(why, whylen, "structure sizes differ (built by another trackerd)");
		return -EPROTO;
	}
	if (h->l.total_size != fd_size) {
		snprintf(why, whylen, "segment says %llu bytes, fd has %zu",
			 (unsigned long long)h->l.total_size, fd_size);
		return -EPROTO;
	}
	p.max_torrents = h->l.max_torrents;
	p.max_peers4 = h->l.max_peers4;
	p.max_peers6 = h->l.max_peers6;
	p.max_access = h->l.max_access;
	p.ratelimit_slots = h->l.ratelimit_slots;
	p.ban_max = h->l.ban_max;
	if (layout_compute(&p, &l) || memcmp(&l, &h->l, sizeof(l)) != 0) {
		snprintf(why, whylen, "layout does not match its capacity");
		return -EPROTO;
	}
	if (expect &&
	    (expect->max_torrents != p.max_torrents || expect->max_peers4 != p.max_peers4 ||
	     expect->max_peers6 != p.max_peers6 || expect->max_access != p.max_access)) {
		snprintf(why, whylen,
			 "capacity %llu torrents, %llu/%llu peers, %llu listed hashes; "
			 "configured %llu, %llu/%llu, %llu",
			 (unsigned long long)p.max_torrents, (unsigned long long)p.max_peers4,
			 (unsigned long long)p.max_peers6, (unsigned long long)p.max_access,
			 (unsigned long long)expect->max_torrents,
			 (unsigned long long)expect->max_peers4,
			 (unsigned long long)expect->max_peers6,
			 (unsigned long long)expect->max_access);
		return -EPROTO;
	}
	if (expect &&
	    (expect->ratelimit_slots != p.ratelimit_slots || expect->ban_max != p.ban_max)) {
		snprintf(why, whylen,
			 "%llu rate-limit slots and %llu bans; configured %llu and %llu",
			 (unsigned long long)p.ratelimit_slots, (unsigned long long)p.ban_max,
			 (unsigned long long)expect->ratelimit_slots,
			 (unsigned long long)expect->ban_max);
		return -EPROTO;
	}
	if (!memcmp(h->stripe_key, zero, sizeof(zero))) {
		snprintf(why, whylen, "stripe-hash key missing");
		return -EPROTO;
	}
	return 0;
}

int segment_attach(int fd, const struct segment_params *expect, struct segment **ret_seg, char *why,
		   size_t whylen)
{
	struct layout_hdr hdr;
	struct segment *seg;
	struct stat st;
	ssize_t n;
	int rc;

	if (whylen)
		why[0] = '\0';
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fstat: %s", strerror(-rc));
		return rc;
	}
	if ((size_t)st.st_size < LAYOUT_ALIGN) {
		snprintf(why, whylen, "fd has %lld bytes, too small for a segment",
			 (long long)st.st_size);
		return -EPROTO;
	}
	n = pread(fd, &hdr, sizeof(hdr), 0);
	if (n != (ssize_t)sizeof(hdr)) {
		rc = n < 0 ? -errno : -EPROTO;
		snprintf(why, whylen, "cannot read the header");
		return rc;
	}
	rc = verify(&hdr, (size_t)st.st_size, expect, why, whylen);
	if (rc)
		return rc;
	seg = calloc(1, sizeof(*seg));
	if (!seg)
		return -ENOMEM;
	seg->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (seg->fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "dup: %s", strerror(-rc));
		free(seg);
		return rc;
	}
	seg->size = (size_t)st.st_size;
	rc = map_fd(seg->fd, seg->size, &seg->base);
	if (rc) {
		snprintf(why, whylen, "mmap: %s", strerror(-rc));
		close(seg->fd);
		free(seg);
		return rc;
	}
	seg->hdr = (struct layout_hdr *)(void *)seg->base;
	/* Verify the mapped copy too: the header we read might have changed. */
	rc = verify(seg->hdr, seg->size, expect, why, whylen);
	if (!rc) {
		__atomic_add_fetch(&seg->hdr->generation, 1, __ATOMIC_RELAXED);
		rc = finish(seg, ret_seg);
	}
	if (rc) {
		munmap(seg->base, seg->size);
		close(seg->fd);
		free(seg);
	}
	return rc;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

/*
 * MADV_COLLAPSE backs a range with a 2 MiB page whatever the system's
 * shmem_enabled policy says (short of "deny"), but only a range that holds
 * at least one page: give each chunk its first page, without writing to it
 * (the data may be live), then collapse it. Workers touching a chunk while
 * it is copied wait on the page lock; nothing is lost.
 */
int segment_huge_pages(struct segment *seg, struct segment_huge *ret)
{
	size_t off;

	memset(ret, 0, sizeof(*ret));
	ret->chunks = seg->size / SEGMENT_HUGE_PAGE;
	for (off = 0; off + SEGMENT_HUGE_PAGE <= seg->size; off += SEGMENT_HUGE_PAGE) {
		uint8_t *p = seg->base + off;

		if (madvise(p, LAYOUT_ALIGN, MADV_POPULATE_WRITE) < 0 ||
		    madvise(p, SEGMENT_HUGE_PAGE, MADV_COLLAPSE) < 0) {
			int rc = -errno;

			if (!ret->err)
				ret->err = rc;
			/* Not supported here: no other chunk will do better. */
			if (rc == -EINVAL || rc == -EPERM || rc == -ENOSYS)
				return rc;
			continue;
		}
		ret->huge++;
	}
	return ret->huge == ret->chunks ? 0 : ret->err;
}

void segment_close(struct segment *seg)
{
	if (!seg)
		return;
	torrents_unbind(seg->t);
	acl_unbind(seg->acl);
	ratelimit_unbind(seg->rl);
	bans_unbind(seg->bans);
	munmap(seg->base, seg->size);
	close(seg->fd);
	free(seg);
}

int segment_fd(const struct segment *seg)
{
	return seg->fd;
}

size_t segment_size(const struct segment *seg)
{
	return seg->size;
}

void segment_get_params(const struct segment *seg, struct segment_params *ret)
{
	ret->max_torrents = seg->hdr->l.max_torrents;
	ret->max_peers4 = seg->hdr->l.max_peers4;
	ret->max_peers6 = seg->hdr->l.max_peers6;
	ret->max_access = seg->hdr->l.max_access;
	ret->ratelimit_slots = seg->hdr->l.ratelimit_slots;
	ret->ban_max = seg->hdr->l.ban_max;
}

struct ratelimit *segment_ratelimit(struct segment *seg)
{
	return seg->rl;
}

struct bans *segment_bans(struct segment *seg)
{
	return seg->bans;
}

struct acl *segment_acl(struct segment *seg)
{
	return seg->acl;
}

const uint8_t *segment_connid_key(const struct segment *seg)
{
	return seg->hdr->connid_key;
}

void segment_set_connid_key(struct segment *seg, const uint8_t key[SEGMENT_KEY_LEN])
{
	memcpy(seg->hdr->connid_key, key, SEGMENT_KEY_LEN);
}

struct torrents *segment_torrents(struct segment *seg)
{
	return seg->t;
}

struct counters_block *segment_counters(struct segment *seg, unsigned i)
{
	if (i >= SEGMENT_WORKER_SLOTS)
		return NULL;
	return (struct counters_block *)(void *)(seg->base + seg->hdr->l.off_counters) + i;
}
