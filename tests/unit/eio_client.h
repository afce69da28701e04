/*
 * An Engine.IO client for the unit tests that drive socketio/ through
 * http_fixture's connections (test_socketio_eio.c, test_socketio_relay.c):
 * polling requests and their answers, the handshake, and a WebSocket's
 * client end with short masked frames. Every call fails the test on what
 * it does not expect, and waits at most 10 s.
 */
#ifndef GN_TESTS_EIO_CLIENT_H
#define GN_TESTS_EIO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* The last response read, whole (head and body), and its body. */
extern char eio_out[65536];
extern const char *eio_last_body;

/* Send the request REQ on FD and read its response: the status; *BODY
 * its body (in eio_out). */
int eio_request(int fd, const char *req, const char **body);

/* GET or POST /socket.io/?QUERY on FD (POST with PAYLOAD[0, LEN)). */
int eio_get(int fd, const char *query, const char **body);
int eio_post(int fd, const char *query, const char *payload, size_t len,
             const char **body);

/* The sid of an OPEN packet's BODY into SID[21]. */
void eio_sid_of(const char *body, char sid[21]);

/* Handshake over polling on FD: the new session's sid in SID. */
void eio_handshake(int fd, char sid[21]);

/* A WebSocket client's end: what it read and has not consumed yet. */
struct eio_ws {
    int fd;
    uint8_t buf[8192];
    size_t len;
};

/* Read more into W's buffer. */
void eio_ws_fill(struct eio_ws *w);

/* Open a WebSocket with QUERY on a new connection: 101 expected. The
 * response's head goes to HEAD (CAP bytes, NUL-terminated) unless NULL. */
void eio_ws_connect(struct eio_ws *w, const char *query, char *head,
                    size_t cap);

/* Send a frame of OPCODE with P[0, N) (< 64 KiB), masked. */
void eio_ws_send(struct eio_ws *w, int opcode, const void *p, size_t n);

/* The next frame (shorter than 126 bytes): its opcode; its payload in
 * DATA (CAP bytes, NUL-terminated), its length in *LEN. */
int eio_ws_next(struct eio_ws *w, char *data, size_t cap, size_t *len);

/* The next frame is text TEXT. */
void eio_ws_expect_text(struct eio_ws *w, const char *text);

#endif /* GN_TESTS_EIO_CLIENT_H */
