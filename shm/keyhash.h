/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/keyhash.h - keyed hashes for the shared store.
 *
 * SipHash (Aumasson and Bernstein) with a 128-bit key: 2-4 rounds where a
 * strong MAC is wanted, 1-3 rounds for picking a stripe and a table slot
 * from an info-hash, and a keyed multiply-fold mix for peer slots inside a
 * swarm (hot path, attacker can only vary address bytes and ports).
 */
#ifndef TRACKER_SHM_KEYHASH_H
#define TRACKER_SHM_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

#define KEYHASH_KEY_LEN 16

/* SipHash-2-4 of len bytes under key (16 bytes). */
uint64_t keyhash_sip24(const uint8_t key[KEYHASH_KEY_LEN], const void *data, size_t len);
/* SipHash-1-3 of len bytes under key (16 bytes). */
uint64_t keyhash_sip13(const uint8_t key[KEYHASH_KEY_LEN], const void *data, size_t len);

/* 64x64 -> 128 multiply folded to 64 bits. */
static inline uint64_t keyhash_mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Keyed mix of one 64-bit word (k0, k1: per-segment secrets). */
static inline uint64_t keyhash_mix64(uint64_t x, uint64_t k0, uint64_t k1)
{
	return keyhash_mum(keyhash_mum(x ^ k0, k1 ^ 0x9e3779b97f4a7c15ULL), 0xbf58476d1ce4e5b9ULL);
}

#endif /* TRACKER_SHM_KEYHASH_H */
