#include "shims.h"
#include <gnutls/gnutls.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static size_t machdb_mhd_no_unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls; (void)c;
    return strlen(s);
}

struct MHD_Daemon *machdb_mhd_start(const struct machdb_mhd_options *o,
                                    MHD_AcceptPolicyCallback accept, void *accept_cls,
                                    MHD_AccessHandlerCallback handler, void *handler_cls,
                                    MHD_RequestCompletedCallback completed, void *completed_cls) {
    struct sockaddr_in local;
    memset(&local, 0, sizeof(local));
    local.sin_family = AF_INET;
    local.sin_port = htons(o->port);
    if (inet_pton(AF_INET, o->bind_ip ? o->bind_ip : "127.0.0.1", &local.sin_addr) != 1) {
        return NULL;
    }
    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)o->thread_pool_size, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)o->connection_limit, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)o->connection_timeout_seconds, NULL },
        { MHD_OPTION_LISTEN_BACKLOG_SIZE, (intptr_t)o->listen_backlog, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)o->connection_memory_limit, NULL },
        { MHD_OPTION_SOCK_ADDR, 0, (void *)&local },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, completed_cls },
        { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)machdb_mhd_no_unescape, NULL },
        { MHD_OPTION_END, 0, NULL },
        { MHD_OPTION_END, 0, NULL },
        { MHD_OPTION_END, 0, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                       | MHD_USE_ITC | MHD_USE_TURBO | MHD_ALLOW_UPGRADE;
    if (o->tls_key_pem && o->tls_cert_pem) {
        size_t n = sizeof(ops) / sizeof(ops[0]) - 4;  // the first of the spare END slots
        flags |= MHD_USE_TLS;
        ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key_pem };
        ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert_pem };
        if (o->tls_trust_pem) ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)o->tls_trust_pem };
    }
    return MHD_start_daemon(flags, o->port, accept, accept_cls, handler, handler_cls,
                            MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

uint16_t machdb_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

unsigned int machdb_mhd_current_connections(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

CURLcode machdb_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode machdb_curl_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
CURLcode machdb_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode machdb_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
CURLcode machdb_curl_setopt_write_cb(CURL *h, CURLoption o, size_t (*cb)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(h, o, cb);
}
CURLcode machdb_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
CURLMcode machdb_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

sqlite3_destructor_type machdb_sqlite_transient(void) { return SQLITE_TRANSIENT; }

json_t *machdb_json_incref(json_t *json) { return json_incref(json); }
void machdb_json_decref(json_t *json) { json_decref(json); }

#include <sys/prctl.h>

int machdb_set_thread_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL); }

int machdb_mhd_upgrade_close(struct MHD_UpgradeResponseHandle *urh) {
    return MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE) == MHD_YES ? 0 : -1;
}

int machdb_mhd_client_verified(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!info || !info->tls_session) return 0;
    gnutls_session_t session = (gnutls_session_t)info->tls_session;
    unsigned int list_size = 0;
    if (!gnutls_certificate_get_peers(session, &list_size) || list_size == 0) return 0;
    unsigned int status = 0;
    if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS) return 0;
    return status == 0 ? 1 : 0;
}
