# Varnish in front of greenicorn: copy to /etc/varnish/default.vcl (or pass
# it with `varnishd -f`) and change what contrib/deploy/README.md lists: the
# backend's .host and .port (the `bind` of greenicorn.conf) and the health
# path. Tested as shipped by tests/e2e/test_deploy.py (VarnishRecipe).
#
# What it caches is what the app marks cacheable: a GET or HEAD whose
# response says `Cache-Control: public, max-age=N` (or s-maxage) is kept
# N seconds; everything else (no Cache-Control, private, no-store,
# no-cache, Set-Cookie, any other method) goes to greenicorn every time.
#
# greenicorn.conf to go with it (Varnish tells the client's address with
# the PROXY protocol, version 2):
#
#     [http]
#     health_check_path = /healthz
#     [proxy]
#     proxy_protocol = on
#     proxy_allow_ips = 127.0.0.1     ; Varnish's address
vcl 4.1;

backend greenicorn {
    .host = "127.0.0.1";
    .port = "8000";
    .proxy_header = 2;
    .connect_timeout = 5s;
    .first_byte_timeout = 60s;
    .between_bytes_timeout = 60s;
    .probe = {
        .request = "GET /healthz HTTP/1.1"
                   "Host: greenicorn"
                   "Connection: close";
        .expected_response = 200;
        .interval = 2s;
        .timeout = 2s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }
}

sub vcl_recv {
    # WebSockets go straight through (a pipe: Varnish copies bytes both
    # ways until either side closes).
    if (req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    # Only GET and HEAD can be answered from the cache.
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Look the rest up even with cookies or Authorization: the app's
    # Cache-Control decides (a logged-in page must say private).
    return (hash);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_response {
    # Cache only what the app marked public with a lifetime. Varnish's own
    # default would also keep responses without Cache-Control for its
    # default_ttl (2 min): the app's word is the only one here.
    if (beresp.http.Cache-Control !~ "(?i)public" ||
        beresp.http.Cache-Control ~ "(?i)(private|no-store|no-cache)" ||
        beresp.http.Cache-Control !~ "(?i)(s-)?max-age=[1-9]" ||
        beresp.http.Set-Cookie) {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s; # remember "do not cache" for this long
        return (deliver);
    }
    # Streamed responses are passed on as they come.
    set beresp.do_stream = true;
}

sub vcl_deliver {
    # Whether this answer came from the cache, for people and tests.
    if (obj.hits > 0) {
        set resp.http.X-Cache = "hit";
    } else {
        set resp.http.X-Cache = "miss";
    }
}
