// Non-variadic C entry points for the variadic or macro-only parts of libmicrohttpd, libcurl,
// SQLite and jansson that Swift cannot call directly. Each function does one call, nothing more.
#ifndef MACHDB_SHIMS_H
#define MACHDB_SHIMS_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <jansson.h>

// ---- libmicrohttpd ----

/// Options for starting a daemon; every field is explicit (no variadic list crosses into Swift).
struct machdb_mhd_options {
    const char *bind_ip;          ///< IPv4 dotted quad to bind, e.g. "127.0.0.1"
    uint16_t port;                ///< 0 = any free port
    unsigned int thread_pool_size;
    unsigned int connection_limit;
    unsigned int connection_timeout_seconds;
    unsigned int listen_backlog;
    size_t connection_memory_limit;
    const char *tls_key_pem;      ///< PEM private key: serve HTTPS (with tls_cert_pem); NULL: plain HTTP
    const char *tls_cert_pem;     ///< PEM certificate chain
    const char *tls_trust_pem;    ///< PEM CA: ask clients for a certificate (see machdb_mhd_client_verified); NULL: none
};

/// Starts a daemon with epoll, an internal thread pool, suspend/resume and upgrades enabled.
/// URLs and arguments are left percent-encoded (no-op unescape callback): the caller decodes.
/// `accept` decides whether each new connection is kept (MHD_YES) or closed at once (MHD_NO).
/// Returns NULL on failure (errno may tell why).
struct MHD_Daemon *machdb_mhd_start(const struct machdb_mhd_options *options,
                                    MHD_AcceptPolicyCallback accept, void *accept_cls,
                                    MHD_AccessHandlerCallback handler, void *handler_cls,
                                    MHD_RequestCompletedCallback completed, void *completed_cls);

/// With HTTPS and a trust CA: 1 when the client presented a certificate the CA verifies, else
/// 0 (none, untrusted, or plain HTTP).
int machdb_mhd_client_verified(struct MHD_Connection *connection);

/// Ends an upgraded connection (MHD_UPGRADE_ACTION_CLOSE): libmicrohttpd closes the socket.
/// Call exactly once per upgrade. Returns 0, or -1 when libmicrohttpd refused.
int machdb_mhd_upgrade_close(struct MHD_UpgradeResponseHandle *urh);

/// The port the daemon is bound to (useful after binding port 0), or 0.
uint16_t machdb_mhd_bound_port(struct MHD_Daemon *daemon);

/// Number of connections the daemon currently holds.
unsigned int machdb_mhd_current_connections(struct MHD_Daemon *daemon);

// ---- libcurl ----
CURLcode machdb_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode machdb_curl_setopt_ptr(CURL *handle, CURLoption option, void *value);
CURLcode machdb_curl_setopt_str(CURL *handle, CURLoption option, const char *value);
CURLcode machdb_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode machdb_curl_setopt_write_cb(CURL *handle, CURLoption option,
                                     size_t (*cb)(char *, size_t, size_t, void *));
CURLcode machdb_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
/// curl_multi_setopt with a long argument (CURLMOPT_MAX_HOST_CONNECTIONS, CURLMOPT_PIPELINING, ...).
CURLMcode machdb_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);

// ---- SQLite ----
/// SQLITE_TRANSIENT is a macro cast that Swift cannot import.
sqlite3_destructor_type machdb_sqlite_transient(void);

// ---- jansson ----
json_t *machdb_json_incref(json_t *json);
void machdb_json_decref(json_t *json);

// ---- threads ----
/// Names the calling thread (Linux: at most 15 bytes are kept). Returns 0 or -1 (errno).
int machdb_set_thread_name(const char *name);

#endif
