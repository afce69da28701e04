/*
 * Process titles: what ps and top show for the arbiter and each worker.
 */
#ifndef GN_CORE_PROCTITLE_H
#define GN_CORE_PROCTITLE_H

/* Set the process title to "greenicorn: ROLE [NAME]", NAME cut to its last
 * path component, "-" when NULL. */
void gn__proctitle_set(const char *role, const char *name);

#endif /* GN_CORE_PROCTITLE_H */
