import COpenSSL
import Curl
import Glibc
import Synchronization

/// TLS on the peer streams this node dials (docs/ARCHITECTURE.md, "TLS"): OpenSSL on the
/// connected socket, verifying the peer's certificate with the cluster CA and the host it was
/// dialed at, and presenting this node's certificate (the receiving side is libmicrohttpd's
/// HTTPS, which hands the upgraded stream over in the clear). The settings are the process's
/// `ClientTLS`, the same libcurl uses for the other peer traffic.
final class StreamTLS: @unchecked Sendable {
    /// The `SSL_CTX`, made once per settings.
    private static let shared = Mutex<(settings: ClientTLS, context: StreamTLS)?>(nil)

    let context: OpaquePointer

    private init(settings: ClientTLS) throws(TransportError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw .handshake("TLS: \(Self.lastError())") }
        self.context = context
        if let ca = settings.caFile {
            guard SSL_CTX_load_verify_locations(context, ca, nil) == 1 else { throw .handshake("TLS: CA \(ca): \(Self.lastError())") }
        } else {
            SSL_CTX_set_default_verify_paths(context)
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let certificate = settings.certificateFile, let key = settings.keyFile {
            guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1,
                  SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
                throw .handshake("TLS: certificate \(certificate): \(Self.lastError())")
            }
        }
    }

    deinit { SSL_CTX_free(context) }

    /// The context for the process's current `ClientTLS` (defaults when none is set).
    static func current() throws(TransportError) -> StreamTLS {
        let settings = ClientTLS.current ?? ClientTLS(caFile: nil, certificateFile: nil, keyFile: nil)
        if let hit = shared.withLock({ $0 }), hit.settings == settings { return hit.context }
        let made = try StreamTLS(settings: settings)
        shared.withLock { $0 = (settings, made) }
        return made
    }

    /// Runs the TLS handshake on `descriptor` (blocking, bounded by its socket timeouts) and
    /// checks the certificate names `host` (a DNS name, or an IP address in its SAN).
    func connect(descriptor: Int32, host: String) throws(TransportError) -> OpaquePointer {
        guard let ssl = SSL_new(context) else { throw .handshake("TLS: \(Self.lastError())") }
        let parameters = SSL_get0_param(ssl)
        var address = in_addr()
        if inet_pton(AF_INET, host, &address) == 1 {
            X509_VERIFY_PARAM_set1_ip_asc(parameters, host)
        } else {
            X509_VERIFY_PARAM_set1_host(parameters, host, 0)
            _ = host.withCString { SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
        }
        SSL_set_fd(ssl, descriptor)
        guard SSL_connect(ssl) == 1 else {
            let verify = SSL_get_verify_result(ssl)
            let reason = verify != X509_V_OK ? String(cString: X509_verify_cert_error_string(verify)) : Self.lastError()
            SSL_free(ssl)
            throw .handshake("TLS handshake with \(host): \(reason)")
        }
        return ssl
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "error \(errno)" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
