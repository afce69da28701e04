/*
 * The unit tests' Engine.IO client (eio_client.h): requests written whole
 * on a connection http_fixture opened, responses read by
 * http_read_response, WebSocket frames built and parsed by hand, as the
 * tests need only short ones.
 */
#include "eio_client.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greenicorn.h"
#include "http_fixture.h"

char eio_out[65536];
const char *eio_last_body;

int eio_request(int fd, const char *req, const char **body)
{
    size_t n = strlen(req);

    ck_assert_int_eq(gn_write(fd, req, n, 10.0), (ssize_t)n);
    http_read_response(fd, eio_out, sizeof(eio_out), body);
    eio_last_body = *body;
    return atoi(eio_out + 9);
}

int eio_get(int fd, const char *query, const char **body)
{
    char req[512];

    snprintf(req, sizeof(req), "GET /socket.io/?%s HTTP/1.1\r\nHost: x\r\n\r\n",
             query);
    return eio_request(fd, req, body);
}

int eio_post(int fd, const char *query, const char *payload, size_t len,
             const char **body)
{
    static char req[8192];
    int n = snprintf(req, sizeof(req),
                     "POST /socket.io/?%s HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     query, len);

    ck_assert_uint_lt((size_t)n + len, sizeof(req));
    memcpy(req + n, payload, len);
    req[n + len] = '\0';
    return eio_request(fd, req, body);
}

void eio_sid_of(const char *body, char sid[21])
{
    const char *p = strstr(body, "\"sid\":\"");

    ck_assert_msg(body[0] == '0' && p != NULL, "%s", body);
    memcpy(sid, p + 7, 20);
    sid[20] = '\0';
    ck_assert_int_eq(p[27], '"');
}

void eio_handshake(int fd, char sid[21])
{
    const char *body;

    ck_assert_int_eq(eio_get(fd, "EIO=4&transport=polling", &body), 200);
    eio_sid_of(body, sid);
}

void eio_ws_fill(struct eio_ws *w)
{
    ssize_t n;

    ck_assert_uint_lt(w->len, sizeof(w->buf));
    n = gn_read(w->fd, w->buf + w->len, sizeof(w->buf) - w->len, 10.0);
    ck_assert_msg(n > 0, "WebSocket read: %zd", n);
    w->len += (size_t)n;
}

void eio_ws_connect(struct eio_ws *w, const char *query, char *head,
                    size_t cap)
{
    char req[512];
    int n;
    uint8_t *end;
    size_t hlen;

    w->fd = http_connect();
    w->len = 0;
    n = snprintf(req, sizeof(req),
                 "GET /socket.io/?%s HTTP/1.1\r\nHost: x\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 query);
    ck_assert_int_eq(gn_write(w->fd, req, (size_t)n, 10.0), n);
    while ((end = memmem(w->buf, w->len, "\r\n\r\n", 4)) == NULL)
        eio_ws_fill(w);
    ck_assert_msg(memcmp(w->buf, "HTTP/1.1 101 ", 13) == 0, "%.*s",
                  (int)w->len, w->buf);
    hlen = (size_t)(end + 4 - w->buf);
    if (head != NULL) {
        ck_assert_uint_lt(hlen, cap);
        memcpy(head, w->buf, hlen);
        head[hlen] = '\0';
    }
    w->len -= hlen;
    memmove(w->buf, end + 4, w->len);
}

void eio_ws_send(struct eio_ws *w, int opcode, const void *p, size_t n)
{
    static uint8_t f[8 + 65536];
    size_t head = n < 126 ? 6 : 8;

    ck_assert_uint_lt(n, 65536);
    f[0] = (uint8_t)(0x80 | opcode);
    f[1] = (uint8_t)(0x80 | (n < 126 ? n : 126));
    if (n >= 126) {
        f[2] = (uint8_t)(n >> 8);
        f[3] = (uint8_t)n;
    }
    memcpy(f + head - 4, "\x01\x02\x03\x04", 4);
    for (size_t i = 0; i < n; i++)
        f[head + i] = ((const uint8_t *)p)[i] ^ f[head - 4 + i % 4];
    ck_assert_int_eq(gn_write(w->fd, f, head + n, 10.0), (ssize_t)(head + n));
}

int eio_ws_next(struct eio_ws *w, char *data, size_t cap, size_t *len)
{
    size_t n, head = 2;
    int op;

    while (w->len < 2)
        eio_ws_fill(w);
    op = w->buf[0] & 0x0f;
    n = w->buf[1] & 0x7f;
    ck_assert_uint_lt(n, 126); /* the tests' frames are short */
    while (w->len < head + n)
        eio_ws_fill(w);
    ck_assert_uint_lt(n, cap);
    memcpy(data, w->buf + head, n);
    data[n] = '\0';
    *len = n;
    w->len -= head + n;
    memmove(w->buf, w->buf + head + n, w->len);
    return op;
}

void eio_ws_expect_text(struct eio_ws *w, const char *text)
{
    char data[256];
    size_t n;

    ck_assert_int_eq(eio_ws_next(w, data, sizeof(data), &n), 1);
    ck_assert_str_eq(data, text);
}
