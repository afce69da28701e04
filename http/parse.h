/*
 * HTTP/1.1 request framing over llhttp (the only file that includes
 * llhttp.h). The parser works on a caller's buffer and never reads a
 * socket, so the framing is unit-testable with plain byte strings.
 *
 * One message at a time: gn__http_execute() stops when the head is complete
 * (GN_HTTP_HEAD) and again when the message is (GN_HTTP_DONE), so
 * pipelined requests are never parsed before the previous one is answered.
 * Head fields are recorded as offsets into the buffer (it may move while
 * the head is incomplete); body bytes are copied to the caller's buffer.
 */
#ifndef GN_HTTP_PARSE_H
#define GN_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct gn_request;

/* Gunicorn's limits, from [http] (0 in the config means the cap). */
struct gn_http_limits {
    uint32_t request_line; /* bytes of "METHOD SP target SP version" */
    uint32_t fields;       /* header lines */
    uint32_t field_size;   /* bytes of a header's name and value */
    uint32_t head;         /* bytes of the head: line, fields, CRLFs */
    uint64_t body;         /* bytes; 0: unlimited */
};

#define GN_HTTP_LIMITS_DEFAULT                                                 \
    {                                                                          \
        4094, 100, 8190, 32768, 0                                              \
    }
#define GN_LIMIT_REQUEST_LINE_CAP 65536
#define GN_LIMIT_REQUEST_FIELDS_CAP 32768
#define GN_LIMIT_REQUEST_FIELD_SIZE_CAP 65536
/* A head never takes more than this, whatever the limits say (and the
 * cap of limit_request_header_size). */
#define GN_HEAD_CAP (8u << 20)

/* The most bytes a request head can take within L. */
size_t gn__http_head_max(const struct gn_http_limits *l);

enum gn_http_event {
    GN_HTTP_MORE,  /* every byte given was consumed; feed more */
    GN_HTTP_HEAD,  /* the head is complete: the request's fields are set */
    GN_HTTP_DONE,  /* the message (body included) is complete */
    GN_HTTP_ERROR, /* malformed: answer `status` and close */
};

/* Opaque storage for llhttp's parser state (checked in http_parse.c). */
#define GN__LLHTTP_STORAGE 128

struct gn_http_parser {
    _Alignas(8) unsigned char ll[GN__LLHTTP_STORAGE];
    const struct gn_http_limits *limits;
    uint32_t line_max;          /* the request line's limit, head's too */
    struct gn_request *req;     /* the message being parsed */
    const char *base;           /* the buffer of the current call */
    char *out;                  /* body bytes go here (NULL: discard) */
    size_t room, got;           /* out's size, and bytes put there */
    uint64_t body_total;        /* body bytes of this message so far */
    uint64_t body_limit;        /* this message's (limits->body unless the
                                   caller set its app's); 0: unlimited */
    uint32_t line_start;        /* offset of the request line in base */
    uint32_t version_end;       /* offset just past its HTTP version */
    int in_body;                /* the head is behind us */
    int last_was_value;         /* header callbacks: a value came last */
    uint32_t trailer_field_len; /* bytes of the trailer field being read */
    uint8_t chunk_state;        /* the chunk-size line read (parse.c) */
    uint8_t chunk_paused;       /* llhttp paused at the end of a chunk */
    uint8_t last_chunk;         /* the size line read was "0" */
    uint8_t chunk_ndigits;      /* significant digits in chunk_digits */
    uint8_t chunk_sized;        /* the line has a digit */
    char chunk_digits[16];      /* its size, without leading zeros */
    uint32_t chunk_line_len;    /* bytes of the line so far */
    int status;                 /* on GN_HTTP_ERROR: 400, 413, 414 or 431 */
    const char *reason;         /* on GN_HTTP_ERROR: why, for the debug log */
};

/* Prepare P for a connection's first message, enforcing LIMITS (which
 * must outlive P). */
void gn__http_parser_init(struct gn_http_parser *p,
                          const struct gn_http_limits *limits);

/* Start parsing a new message into REQ (after the previous one was DONE). */
void gn__http_parser_begin(struct gn_http_parser *p, struct gn_request *req);

/*
 * Parse BASE[START, END). *USED is set to the bytes consumed; parsing
 * resumes from START + *USED next time. During the body, bytes go to
 * P->out (up to P->room, counted in P->got): feed at most P->room bytes per
 * call so they always fit. After GN_HTTP_HEAD, the request's spans are
 * offsets into BASE.
 */
enum gn_http_event gn__http_execute(struct gn_http_parser *p, const char *base,
                                    size_t start, size_t end, size_t *used);

/* Whether the connection may carry another request after this one, from
 * the message's version and Connection header. Valid after GN_HTTP_HEAD. */
int gn__http_keep_alive(const struct gn_http_parser *p);

/* The name of METHOD as parsed, a static string. Valid after GN_HTTP_HEAD. */
const char *gn__http_method(const struct gn_http_parser *p);

#endif /* GN_HTTP_PARSE_H */
