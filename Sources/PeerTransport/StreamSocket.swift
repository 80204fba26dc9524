import COpenSSL
import Glibc

/// One TCP socket of a peer stream, owned by one thread at a time. Blocking I/O bounded by
/// socket timeouts; `shutdownNow()` (any thread) makes a blocked call return.
final class StreamSocket: @unchecked Sendable {
    let descriptor: Int32
    /// Whether this object closes the descriptor (an accepted, upgraded socket belongs to the
    /// HTTP server, which closes it).
    private let owned: Bool
    private var closed = false
    /// The TLS session on a dialed socket (`startTLS`), else nil: plain bytes.
    private var tls: OpaquePointer?

    init(descriptor: Int32, owned: Bool) {
        self.descriptor = descriptor
        self.owned = owned
    }

    deinit { close() }

    /// Connects to `host:port` (IPv4 dotted quad or a name) within `timeoutMilliseconds`.
    static func connect(host: String, port: UInt16, timeoutMilliseconds: Int) throws(TransportError) -> StreamSocket {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw .handshake("cannot resolve \(host): \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .handshake("socket: \(errnoText(errno))") }
        let stream = StreamSocket(descriptor: fd, owned: true)
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw .handshake("connect \(host):\(port): \(errnoText(errno))") }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, Int32(timeoutMilliseconds))
            guard ready == 1 else { throw .handshake("connect \(host):\(port): timed out") }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw .handshake("connect \(host):\(port): \(errnoText(error))") }
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return stream
    }

    /// Switches to blocking mode with these send and receive timeouts (0 = none).
    func makeBlocking(sendTimeoutMilliseconds: Int, receiveTimeoutMilliseconds: Int) {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK)
        func set(_ option: Int32, _ milliseconds: Int) {
            var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
            setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        }
        set(SO_SNDTIMEO, sendTimeoutMilliseconds)
        set(SO_RCVTIMEO, receiveTimeoutMilliseconds)
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Runs TLS over this connected socket (see `StreamTLS`); later reads and writes go through it.
    func startTLS(_ context: StreamTLS, host: String) throws(TransportError) {
        tls = try context.connect(descriptor: descriptor, host: host)
    }

    /// Writes every byte; throws on error or when the send timeout passes (a peer that stopped
    /// reading).
    func writeAll(_ bytes: [UInt8]) throws(TransportError) {
        if let tls {
            let written = bytes.withUnsafeBytes { raw in SSL_write(tls, raw.baseAddress, Int32(raw.count)) }
            guard written == Int32(bytes.count) else {
                let code = errno
                throw .badFrame(code == EAGAIN || code == EWOULDBLOCK ? "send timed out (peer not reading)" : "TLS write: \(StreamTLS.lastError())")
            }
            return
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 { offset += written; continue }
            let code = errno
            if written < 0 && code == EINTR { continue }
            throw .badFrame(code == EAGAIN || code == EWOULDBLOCK ? "send timed out (peer not reading)" : "send: \(errnoText(code))")
        }
    }

    /// Reads what is available into `buffer` (blocking up to the receive timeout); returns the
    /// count, 0 at end of stream. Throws on error or timeout.
    func read(into buffer: inout [UInt8]) throws(TransportError) -> Int {
        if let tls {
            let count = buffer.withUnsafeMutableBytes { raw in SSL_read(tls, raw.baseAddress, Int32(raw.count)) }
            if count > 0 { return Int(count) }
            let error = SSL_get_error(tls, count)
            if error == SSL_ERROR_ZERO_RETURN { return 0 }
            let code = errno
            throw .badFrame(code == EAGAIN || code == EWOULDBLOCK ? "nothing received in time" : "TLS read: \(StreamTLS.lastError())")
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in recv(descriptor, raw.baseAddress, raw.count, 0) }
            if count >= 0 { return count }
            let code = errno
            if code == EINTR { continue }
            throw .badFrame(code == EAGAIN || code == EWOULDBLOCK ? "nothing received in time" : "recv: \(errnoText(code))")
        }
    }

    /// Makes blocked reads and writes return (any thread); the owner still closes.
    func shutdownNow() { _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR)) }

    func close() {
        guard !closed else { return }
        closed = true
        if let tls { SSL_free(tls) }
        tls = nil
        if owned { _ = Glibc.close(descriptor) }
    }
}
