/*
 * The version plugins and --version report.
 */
#include "config.h"
#include "greenicorn.h"

GN_API const char *gn_version(void)
{
    return GN_VERSION_STRING;
}
