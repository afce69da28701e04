/*
 * The ssl family: OpenSSL's per-thread error queue made per coroutine
 * (patch/ssl.c says how).
 */
#ifndef GN_PATCH_SSL_H
#define GN_PATCH_SSL_H

/* Keep (ON) or stop keeping each coroutine's OpenSSL errors apart. Called
 * by gn__patch_enable on the loop's thread, before coroutines run. */
void gn__patch_ssl_enable(int on);

/* The executable's own OpenSSL calls leave no error behind (greenicorn's
 * server: net/tls_*.c clear the queue around each): only the apps and
 * libraries loaded beside it make the family's hook run. Call before
 * gn__patch_enable. */
void gn__patch_ssl_executable_is_clean(void);

#endif /* GN_PATCH_SSL_H */
