/* A small incremental SHA-256 (FIPS 180-4) for the persist engine: overlay files written
 * sequentially from offset 0 are hashed as the bytes arrive, so an LFS upload needs no second
 * read for its object id. Self-contained (the client's copy is internal to hubclient). */
#ifndef SPACEFS_PERSIST_SHA256_H
#define SPACEFS_PERSIST_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct persist_sha256 {
    uint32_t h[8];
    uint64_t bytes; /* hashed so far */
    unsigned char block[64];
    size_t fill;
};

void persist_sha256_init(struct persist_sha256 *s);
void persist_sha256_update(struct persist_sha256 *s, const void *data, size_t n);
/* The digest of what was fed so far as 64 lowercase hex digits + NUL; s is left unchanged (it
 * finalises a copy), so hashing can go on. */
void persist_sha256_hex(const struct persist_sha256 *s, char out[65]);

#endif
