/*
 * hello_cpp: hello.c in C++17, to show that an app in any language that
 * can export a C ABI is a greenicorn app. Answers every request with
 * "Hello, World!" as text/plain.
 *
 *     greenicorn build/contrib/apps/hello_cpp.so
 *
 *     GET /?throw=1          throws inside the handler: answered 500
 *
 * The server is C: a C++ exception must never unwind into it (its frames
 * have no unwind tables to run, and it would skip the server's clean-up).
 * So handle() catches everything and returns a negative errno, on which
 * the server answers 500 and logs the failure; the message of the
 * exception goes to the error log.
 */
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include <greenicorn.h>

namespace
{

/* The part that may throw: std::string allocates (std::bad_alloc). */
int respond(gn_request_t *req, gn_response_t *res)
{
    std::string body = "Hello, World!";

    if (std::strcmp(gn_request_query(req), "throw=1") == 0)
        throw std::runtime_error("asked to throw by " +
                                 std::string(gn_request_remote_addr(req)));
    gn_response_header(res, "Content-Type", "text/plain");
    return gn_response_write(res, body.data(), body.size());
}

} // namespace

/* C language linkage, as the function pointer in gn_app_t has. */
extern "C" {

static int hello_cpp_handle(gn_request_t *req, gn_response_t *res,
                            void *state) noexcept
{
    (void)state;
    try {
        return respond(req, res);
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    } catch (const std::exception &e) {
        gn_log(GN_LOG_ERROR, "hello_cpp: %s", e.what());
        return -EIO;
    } catch (...) {
        gn_log(GN_LOG_ERROR, "hello_cpp: unknown exception");
        return -EIO;
    }
}

} // extern "C"

/* `extern "C"` in front of the declaration itself, not a block around it:
 * that also makes the const object extern (a namespace-scope const is
 * internal to its file in C++, and the server would not find it).
 * Positional fields, not GN_APP_HEADER: its designated initializers are
 * C, and C++ has them only since C++20. */
extern "C" GN_EXPORT const gn_app_t greenicorn_app = {
    GN_ABI_VERSION, sizeof(gn_app_t), "hello_cpp",
    nullptr,        hello_cpp_handle, nullptr,
};
