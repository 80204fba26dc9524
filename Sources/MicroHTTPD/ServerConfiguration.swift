#if canImport(Glibc)
import Glibc
#endif

/// Settings of one HTTP server. Defaults suit a node on this class of machine.
public struct ServerConfiguration: Sendable {
    /// IPv4 address to bind.
    public var host: String = "127.0.0.1"
    /// TCP port; 0 picks a free one (see `Server.port`).
    public var port: UInt16 = 8080
    /// I/O threads (libmicrohttpd thread pool, each with its own epoll set). Default: cores.
    public var threads: Int = ServerConfiguration.cores
    /// Connections held at once; more wait in the kernel's accept queue.
    public var connectionLimit: Int = 10_000
    /// An idle connection is closed after this many seconds.
    public var connectionTimeoutSeconds: Int = 60
    /// Largest request body; a larger one is answered 413 (early when Content-Length says so).
    public var maxBodyBytes: Int = 16 << 20
    public var listenBacklog: Int = 4096
    /// Per-connection buffer for the request head and body chunks.
    public var connectionMemoryLimit: Int = 32 << 10
    /// Serve HTTPS (libmicrohttpd with GnuTLS) instead of plain HTTP.
    public var tls: TLS?

    /// HTTPS: the server's key and certificate chain, PEM; with `trustPEM`, clients are asked
    /// for a certificate, and `Request.clientCertificateVerified` says whether that CA verified it.
    public struct TLS: Sendable {
        public var keyPEM: String
        public var certificatePEM: String
        public var trustPEM: String?

        public init(keyPEM: String, certificatePEM: String, trustPEM: String? = nil) {
            self.keyPEM = keyPEM
            self.certificatePEM = certificatePEM
            self.trustPEM = trustPEM
        }
    }

    public init() {}

    public static var cores: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public func validate() throws(HTTPServerError) {
        func check(_ ok: Bool, _ what: String) throws(HTTPServerError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        var addr = in_addr()
        try check(inet_pton(AF_INET, host, &addr) == 1, "host must be an IPv4 address, got \(host)")
        try check((1...256).contains(threads), "threads must be 1...256")
        try check((1...1_000_000).contains(connectionLimit), "connection limit must be 1...1000000")
        try check((1...86_400).contains(connectionTimeoutSeconds), "connection timeout must be 1...86400 s")
        try check((1...(1 << 34)).contains(maxBodyBytes), "max body bytes must be 1...16 GiB")
        try check((16...65_535).contains(listenBacklog), "listen backlog must be 16...65535")
        try check((4 << 10...16 << 20).contains(connectionMemoryLimit), "connection memory must be 4 KiB...16 MiB")
    }
}

/// Errors of the HTTP server wrapper.
public enum HTTPServerError: Error, Sendable, CustomStringConvertible {
    case invalidConfiguration(String)
    case startFailed(host: String, port: UInt16, errno: Int32)

    public var description: String {
        switch self {
        case let .invalidConfiguration(what): "invalid HTTP configuration: \(what)"
        case let .startFailed(host, port, code):
            "cannot listen on \(host):\(port): \(String(cString: strerror(code)))"
        }
    }
}
