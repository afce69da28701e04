/*
 * PROXY protocol parsing, per HAProxy's proxy-protocol.txt. Version 1 is a
 * text line ("PROXY TCP4 src dst sport dport\r\n"); version 2 a binary
 * header behind a 12-byte signature, whose TLVs we skip.
 */
#include "http/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

/* A decimal port of at most five digits. */
static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9' || strlen(s) > 5)
        return -EPROTO;
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v > 65535)
        return -EPROTO;
    *port = (uint16_t)v;
    return 0;
}

/* Split LINE at single spaces into at most MAX fields; the count, or -1
 * when a field is empty (two spaces in a row) or there are too many. */
static int split_fields(char *line, char **f, int max)
{
    int n = 0;

    for (char *p = line;; p++) {
        char *sp = strchr(p, ' ');

        if (n == max || *p == '\0' || *p == ' ')
            return -1;
        f[n++] = p;
        if (sp == NULL)
            return n;
        *sp = '\0';
        p = sp;
    }
}

/* "PROXY TCP4|TCP6 SRC DST SPORT DPORT" or "PROXY UNKNOWN ...". */
static int parse_v1_fields(char *line, struct gn_proxy_info *info)
{
    char *f[6];
    unsigned char bin[16];
    uint16_t dport;
    int n, family;

    /* The rest of an UNKNOWN line is to be ignored. */
    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
        (line[13] == '\0' || line[13] == ' ')) {
        info->local = 1;
        return 0;
    }
    n = split_fields(line, f, 6);
    if (n != 6 || strcmp(f[0], "PROXY") != 0)
        return -EPROTO;
    if (strcmp(f[1], "TCP4") == 0)
        family = AF_INET;
    else if (strcmp(f[1], "TCP6") == 0)
        family = AF_INET6;
    else
        return -EPROTO;
    if (inet_pton(family, f[2], bin) != 1 || inet_pton(family, f[3], bin) != 1)
        return -EPROTO;
    if (parse_port(f[4], &info->port) != 0 || parse_port(f[5], &dport) != 0)
        return -EPROTO;
    snprintf(info->addr, sizeof(info->addr), "%s", f[2]);
    info->local = 0;
    return 0;
}

static int parse_v1(const char *buf, size_t len, struct gn_proxy_info *info)
{
    size_t scan = len < GN_PROXY_V1_MAX ? len : GN_PROXY_V1_MAX;
    const char *lf = memchr(buf, '\n', scan);
    char line[GN_PROXY_V1_MAX + 1];
    size_t n;

    if (lf == NULL)
        return len < GN_PROXY_V1_MAX ? 0 : -EPROTO;
    n = (size_t)(lf - buf);
    if (n == 0 || buf[n - 1] != '\r' || memchr(buf, '\0', n) != NULL)
        return -EPROTO; /* the line ends with CRLF, nothing else */
    memcpy(line, buf, n - 1);
    line[n - 1] = '\0';
    return parse_v1_fields(line, info) == 0 ? (int)n + 1 : -EPROTO;
}

static int parse_v2(const unsigned char *b, size_t len,
                    struct gn_proxy_info *info)
{
    size_t body;
    int cmd, family;

    if (len < GN_PROXY_V2_HEAD)
        return 0;
    body = (size_t)b[14] << 8 | b[15];
    if ((b[12] & 0xf0) != 0x20)
        return -EPROTO; /* version 2 only */
    if (len < GN_PROXY_V2_HEAD + body)
        return 0;
    cmd = b[12] & 0x0f;
    family = b[13] >> 4;
    info->local =
        cmd == 0 || family == 0 || family == 3; /* LOCAL, UNSPEC, unix */
    if (cmd > 1)
        return -EPROTO;
    if (!info->local && family == 1 && body >= 12) {
        inet_ntop(AF_INET, b + 16, info->addr, sizeof(info->addr));
        info->port = (uint16_t)(b[24] << 8 | b[25]);
    } else if (!info->local && family == 2 && body >= 36) {
        inet_ntop(AF_INET6, b + 16, info->addr, sizeof(info->addr));
        info->port = (uint16_t)(b[48] << 8 | b[49]);
    } else if (!info->local) {
        return -EPROTO;
    }
    return (int)(GN_PROXY_V2_HEAD + body);
}

int gn__proxy_parse(const char *buf, size_t len, struct gn_proxy_info *info)
{
    size_t n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);

    memset(info, 0, sizeof(*info));
    if (memcmp(buf, v2_sig, n) == 0)
        return n < sizeof(v2_sig)
                   ? 0
                   : parse_v2((const unsigned char *)buf, len, info);
    n = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", n) == 0)
        return n < 6 ? 0 : parse_v1(buf, len, info);
    return -EPROTO;
}
