/*
 * greenicorn/version.h - what a plugin is built against: the release, the
 * plugin ABI version every descriptor carries (GN_ABI_VERSION), and
 * GN_API/GN_EXPORT, the mark on every function and descriptor of the ABI.
 *
 * Part of the plugin ABI: a plugin includes <greenicorn.h>, which includes
 * this header; the rules for threads and errors are written there.
 */
#ifndef GREENICORN_VERSION_H
#define GREENICORN_VERSION_H

/* Marks the server's exported functions and a plugin's exported descriptor.
 * Plugins built with -fvisibility=hidden still export what carries it. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define GN_API __attribute__((visibility("default")))
#else
#define GN_API
#endif
#define GN_EXPORT GN_API

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------ */

/* The server release this header ships with. */
#define GN_VERSION_MAJOR 0
#define GN_VERSION_MINOR 1
#define GN_VERSION_PATCH 0

/* The plugin ABI. A plugin built against a different major version is
 * refused at load time; minor versions only add functions and append fields
 * to the end of public structs, so an older plugin keeps working. */
#define GN_ABI_VERSION_MAJOR 1
#define GN_ABI_VERSION_MINOR 7
#define GN_ABI_VERSION ((GN_ABI_VERSION_MAJOR << 16) | GN_ABI_VERSION_MINOR)

/* The running server's version as "MAJOR.MINOR.PATCH"; a static string. */
GN_API const char *gn_version(void);

#ifdef __cplusplus
}
#endif

#endif /* GREENICORN_VERSION_H */
