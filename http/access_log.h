/*
 * The access log line of one request, in the configured
 * access_log_format (Gunicorn's atoms).
 */
#ifndef GN_HTTP_ACCESS_LOG_H
#define GN_HTTP_ACCESS_LOG_H

#include <stdint.h>

struct gn_access_format;
struct gn_conn;
struct gn_request;
struct gn_response;

/* Format and write the line for REQ and RES on C, once REQ's end_us is
 * set (its time is end_us - start_us). A no-op when no access log is
 * configured. */
void gn__access_log(const struct gn_access_format *f, const struct gn_conn *c,
                    const struct gn_request *req,
                    const struct gn_response *res);

#endif /* GN_HTTP_ACCESS_LOG_H */
