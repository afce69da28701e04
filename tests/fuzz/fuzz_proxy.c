/*
 * Fuzz target: the PROXY protocol header parser (http/proxy.c) on
 * arbitrary bytes at the start of a connection. http/serve.c calls it on
 * whatever has arrived so far and reads more while it answers 0, so beside
 * memory safety the target checks that the answer is consistent across
 * prefixes of the same bytes: a header is complete at exactly one length,
 * a prefix of it always asks for more, and a refusal never turns into a
 * header once more bytes arrive.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prefixes longer than this are only checked whole: the longest v1 line
 * is 107 bytes and a v2 header is decided by its first 16 and its body. */
#define PREFIX_CHECKED 512

/* Parse DATA[0, LEN) from a buffer of exactly LEN bytes, so that ASan
 * sees any read past what has arrived. */
static int parse(const uint8_t *data, size_t len, struct gn_proxy_info *info)
{
    char *buf = malloc(len ? len : 1);
    int rc;

    if (buf == NULL)
        abort();
    memcpy(buf, data, len);
    rc = gn__proxy_parse(buf, len, info);
    free(buf);
    return rc;
}

/* What a complete header reports must be usable as conn.c uses it. */
static void check_info(const struct gn_proxy_info *info)
{
    unsigned char bin[16];

    if (info->local)
        return;
    if (memchr(info->addr, '\0', sizeof(info->addr)) == NULL)
        abort();
    if (inet_pton(AF_INET, info->addr, bin) != 1 &&
        inet_pton(AF_INET6, info->addr, bin) != 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gn_proxy_info whole, part;
    int rc = parse(data, size, &whole), prc;
    size_t upto = size < PREFIX_CHECKED ? size : PREFIX_CHECKED;

    if (rc != -EPROTO && (rc < 0 || (size_t)rc > size))
        abort();
    if (rc > 0)
        check_info(&whole);
    for (size_t k = 0; k < upto; k++) {
        prc = parse(data, k, &part);
        if (rc > 0 && (size_t)rc > k && prc != 0)
            abort(); /* a prefix of a header: "need more" */
        if (prc == -EPROTO && rc != -EPROTO)
            abort(); /* refused, then accepted with more bytes */
        if (prc > 0 && (prc != rc || part.local != whole.local ||
                        part.port != whole.port ||
                        strcmp(part.addr, whole.addr) != 0))
            abort(); /* complete early, yet different whole */
    }
    return 0;
}
