import CMicroHTTPD
import CShims
import Synchronization
import Sync
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 server on libmicrohttpd: epoll, an internal thread pool, keep-alive,
/// incremental bodies with a size bound, and suspend/resume so a handler can answer later
/// without holding a thread.
///
/// Lifecycle: `init` binds and starts serving; `quiesce()` stops accepting new connections;
/// `shutdown()` stops the daemon — call it only after every request has been answered
/// (`inFlight == 0`), since suspended connections cannot be stopped.
///
/// Quiescing closes each new connection as it is accepted (the accept policy says no) rather
/// than calling `MHD_quiesce_daemon`: with a thread pool on epoll, that call races the worker
/// threads removing the listening socket from their epoll sets, and libmicrohttpd aborts the
/// process ("Failed to remove listen FD from epoll set", seen in tests that stop a server
/// right after starting it).
public final class Server: @unchecked Sendable {
    public let configuration: ServerConfiguration
    let handler: any HTTPHandler
    private var daemon: OpaquePointer?
    private let inFlightCount = Atomic<Int>(0)
    private let stopped = Mutex(false)
    /// Set by `quiesce`: new connections are closed as soon as they are accepted.
    private let quiesced = Atomic<Bool>(false)

    /// The bound port (useful with port 0).
    public private(set) var port: UInt16 = 0
    /// HTTPS with a trust CA: requests say whether it verified the client's certificate.
    let asksClientCertificates: Bool
    /// Copies of the TLS PEM texts handed to libmicrohttpd, freed after the daemon stopped.
    private var tlsMemory: [UnsafeMutablePointer<CChar>?] = []

    public init(configuration: ServerConfiguration, handler: any HTTPHandler) throws(HTTPServerError) {
        try configuration.validate()
        self.configuration = configuration
        self.handler = handler
        asksClientCertificates = configuration.tls?.trustPEM != nil
        var options = machdb_mhd_options()
        options.port = configuration.port
        options.thread_pool_size = UInt32(configuration.threads)
        options.connection_limit = UInt32(configuration.connectionLimit)
        options.connection_timeout_seconds = UInt32(configuration.connectionTimeoutSeconds)
        options.listen_backlog = UInt32(configuration.listenBacklog)
        options.connection_memory_limit = configuration.connectionMemoryLimit
        let context = Unmanaged.passUnretained(self).toOpaque()
        // libmicrohttpd keeps pointers to the PEM texts: they live as long as the server.
        if let tls = configuration.tls {
            tlsMemory = [strdup(tls.keyPEM), strdup(tls.certificatePEM), tls.trustPEM.map { strdup($0) } ?? nil]
            options.tls_key_pem = UnsafePointer(tlsMemory[0])
            options.tls_cert_pem = UnsafePointer(tlsMemory[1])
            options.tls_trust_pem = UnsafePointer(tlsMemory[2])
        }
        let started: OpaquePointer? = configuration.host.withCString { host in
            options.bind_ip = host
            return machdb_mhd_start(&options, acceptPolicy, context, accessHandler, context, completedHandler, context)
        }
        guard let started else {
            throw .startFailed(host: configuration.host, port: configuration.port, errno: errno)
        }
        daemon = started
        port = machdb_mhd_bound_port(started)
    }

    /// Requests received and not yet answered.
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// Connections currently open.
    public var connections: Int {
        guard let daemon, !stopped.withLock({ $0 }) else { return 0 }
        return Int(machdb_mhd_current_connections(daemon))
    }

    /// Stops accepting new connections; open ones are served until they close.
    public func quiesce() {
        quiesced.store(true, ordering: .releasing)
    }

    /// Whether a new connection may be kept (not once quiesced).
    var accepts: Bool { !quiesced.load(ordering: .acquiring) }

    /// Stops the daemon and its threads. Idempotent. Every request must have been answered.
    public func shutdown() {
        let already = stopped.withLock { value in
            defer { value = true }
            return value
        }
        guard !already, let daemon else { return }
        MHD_stop_daemon(daemon)
    }

    deinit {
        shutdown()
        for pointer in tlsMemory { free(pointer) }
    }

    // MARK: - Callbacks (I/O threads)

    func requestStarted() { inFlightCount.add(1, ordering: .relaxed) }
    func requestFinished() { inFlightCount.subtract(1, ordering: .relaxed) }

    /// Queues the handler's answer to `exchange`. A protocol switch ends the request here: the
    /// connection now belongs to the upgrade handler, so it no longer counts as in flight.
    func answer(_ exchange: Exchange, with response: Response, on connection: OpaquePointer) -> MHD_Result {
        if case .upgrade = response.body {
            exchange.upgraded = true
            requestFinished()
        }
        return queue(response, on: connection)
    }

    /// Queues `response` on the connection; returns the libmicrohttpd result.
    func queue(_ response: Response, on connection: OpaquePointer) -> MHD_Result {
        let mhdResponse: OpaquePointer?
        switch response.body {
        case .bytes(let bytes):
            mhdResponse = bytes.withUnsafeBytes { raw in
                MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY)
            }
        case let .file(path, unlinkWhenOpened):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .NO }
            if unlinkWhenOpened { unlink(path) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { close(fd); return .NO }
            mhdResponse = MHD_create_response_from_fd64(UInt64(info.st_size), fd)  // closes fd when destroyed
            if mhdResponse == nil { close(fd) }
        case let .upgrade(handler):
            // Retained for libmicrohttpd; the trampoline releases it when the upgrade runs. (A
            // client that disconnects before reading the 101 leaks this one small box.)
            let context = Unmanaged.passRetained(UpgradeContext(handler)).toOpaque()
            mhdResponse = MHD_create_response_for_upgrade(upgradeTrampoline, context)
            if mhdResponse == nil { Unmanaged<UpgradeContext>.fromOpaque(context).release() }
        }
        guard let mhdResponse else { return .NO }
        for (name, value) in response.headers {
            _ = MHD_add_response_header(mhdResponse, name, value)
        }
        let result = MHD_queue_response(connection, UInt32(response.status), mhdResponse)
        MHD_destroy_response(mhdResponse)
        return result
    }
}

private func collectValue(_ cls: UnsafeMutableRawPointer?, _ kind: MHD_ValueKind, _ key: UnsafePointer<CChar>?,
                          _ value: UnsafePointer<CChar>?) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let exchange = Unmanaged<Exchange>.fromOpaque(cls).takeUnretainedValue()
    let name = String(cString: key)
    let text = value.map { String(cString: $0) } ?? ""
    if kind == .HEADER_KIND {
        exchange.headers.append((name.lowercased(), text))
    } else if let decodedName = PercentEncoding.decode(name, plusAsSpace: true),
              let decodedValue = PercentEncoding.decode(text, plusAsSpace: true) {
        exchange.query.append((decodedName, decodedValue))
    } else {
        exchange.query.append(("\u{FFFD}invalid", text))  // routing reports it as a bad parameter
    }
    return .YES
}

private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadDataSize, conCls in
    guard let cls, let connection, let conCls, let uploadDataSize else { return .NO }
    let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()

    guard let existing = conCls.pointee else {
        // First call: the head is complete. Collect it; respond on a later call (keep-alive).
        let exchange = Exchange(connection: connection, method: method.map { String(cString: $0) } ?? "GET",
                                path: url.map { String(cString: $0) } ?? "/", receivedAt: monotonicNanoseconds(),
                                server: server)
        let context = Unmanaged.passRetained(exchange).toOpaque()
        conCls.pointee = context
        server.requestStarted()
        _ = MHD_get_connection_values(connection, .HEADER_KIND, collectValue, context)
        _ = MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, collectValue, context)
        if let length = exchange.headers.first(where: { $0.name == "content-length" }).flatMap({ Int($0.value) }),
           length > server.configuration.maxBodyBytes {
            // Answer now, before the body: libmicrohttpd then closes the connection instead of reading it.
            exchange.tooLarge = true
            exchange.markDone()
            return server.queue(server.handler.bodyTooLarge(exchange.request, limit: server.configuration.maxBodyBytes), on: connection)
        }
        return .YES
    }

    let exchange = Unmanaged<Exchange>.fromOpaque(existing).takeUnretainedValue()
    if uploadDataSize.pointee > 0 {
        let size = uploadDataSize.pointee
        uploadDataSize.pointee = 0
        if exchange.tooLarge { return .YES }
        if exchange.body.count + size > server.configuration.maxBodyBytes {
            // A streamed body passed the limit: a response cannot be queued mid-body, so close.
            exchange.tooLarge = true
            exchange.body = []
            return .NO
        }
        if let uploadData {
            exchange.body.append(contentsOf: UnsafeRawBufferPointer(start: uploadData, count: size))
        }
        return .YES
    }

    if let resumed = exchange.takeResumedResponse() {
        return server.answer(exchange, with: resumed, on: connection)
    }
    if exchange.tooLarge { return .YES }  // already answered
    exchange.beginHandling()
    server.handler.handle(exchange.request, responder: exchange)
    exchange.body = []
    if let response = exchange.responseOrSuspend() {
        return server.answer(exchange, with: response, on: connection)
    }
    return .YES
}

private let completedHandler: MHD_RequestCompletedCallback = { cls, _, conCls, _ in
    guard let cls, let conCls, let context = conCls.pointee else { return }
    conCls.pointee = nil
    let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()
    let exchange = Unmanaged<Exchange>.fromOpaque(context).takeRetainedValue()
    if !exchange.upgraded { server.requestFinished() }
}

/// Keeps a new connection unless the server is quiesced (then libmicrohttpd closes it).
private let acceptPolicy: MHD_AcceptPolicyCallback = { cls, _, _ in
    guard let cls else { return .NO }
    return Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue().accepts ? .YES : .NO
}
