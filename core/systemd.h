/*
 * What greenicorn needs of systemd, without needing systemd: the sockets
 * it passes (socket activation) and the readiness messages it reads
 * (Type=notify). Both are small, documented, stable protocols.
 */
#ifndef GN_CORE_SYSTEMD_H
#define GN_CORE_SYSTEMD_H

/* The first descriptor systemd passes (SD_LISTEN_FDS_START). */
#define GN_LISTEN_FDS_START 3

/* The number of sockets passed to this process, as sd_listen_fds(1):
 * LISTEN_FDS when LISTEN_PID is our pid, else 0; each is made
 * close-on-exec, and LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are
 * removed from the environment (they are not our children's). -EINVAL
 * for a malformed value. */
int gn__listen_fds(void);

/* Send the state message (printf FMT, e.g. "READY=1") to $NOTIFY_SOCKET,
 * as sd_notify(0, ...): > 0 when sent, 0 when there is no such socket,
 * else a negative errno. */
int gn__notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where gn__notify's messages go through: "libsystemd" or "built-in". */
const char *gn__notify_impl(void);

#endif /* GN_CORE_SYSTEMD_H */
