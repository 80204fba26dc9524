import CCurl
import CShims
import Synchronization

/// TLS for this process's outgoing HTTPS requests (docs/ARCHITECTURE.md, "TLS"): the CA that
/// verifies servers (nil: the system's trusted CAs) and the certificate and key presented as a
/// client, so nodes verify each other with one cluster CA. Process-wide, like `curl_global_init`:
/// set once at start, before the first request.
public struct ClientTLS: Sendable, Equatable {
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?

    public init(caFile: String?, certificateFile: String?, keyFile: String?) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    private static let state = Mutex<ClientTLS?>(nil)

    /// The settings every later HTTPS request uses.
    public static func configure(_ tls: ClientTLS?) { state.withLock { $0 = tls } }

    public static var current: ClientTLS? { state.withLock { $0 } }

    /// Sets the TLS options on an easy handle about to fetch an `https://` URL.
    static func apply(to handle: UnsafeMutableRawPointer, check: (CURLcode) -> Void) {
        guard let tls = current else { return }
        if let ca = tls.caFile { check(machdb_curl_setopt_str(handle, CURLOPT_CAINFO, ca)) }
        if let certificate = tls.certificateFile { check(machdb_curl_setopt_str(handle, CURLOPT_SSLCERT, certificate)) }
        if let key = tls.keyFile { check(machdb_curl_setopt_str(handle, CURLOPT_SSLKEY, key)) }
    }
}
