import CMicroHTTPD
import CShims
import Synchronization

/// A connection handed over after a `101 Switching Protocols` answer: from now on the
/// application speaks its own protocol on `descriptor`.
///
/// Ownership: the application reads and writes `descriptor` but never closes it; it calls
/// `close()` exactly once when done (libmicrohttpd then closes the socket). Later calls do
/// nothing. The descriptor may be non-blocking: switch it to the mode you need.
public final class UpgradedSocket: Sendable {
    /// The connection's socket.
    public let descriptor: Int32
    /// Bytes the client sent after its request head, already read by the server: the first
    /// bytes of the new protocol.
    public let leftover: [UInt8]
    /// The libmicrohttpd handle as an address (0 once closed): pointers are not `Sendable`.
    private let handle: Mutex<UInt>

    init(descriptor: Int32, leftover: [UInt8], handle: OpaquePointer) {
        self.descriptor = descriptor
        self.leftover = leftover
        self.handle = Mutex(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle))))
    }

    /// Ends the connection (idempotent).
    public func close() {
        let address = handle.withLock { value -> UInt in defer { value = 0 }; return value }
        guard let urh = OpaquePointer(bitPattern: address) else { return }
        _ = machdb_mhd_upgrade_close(urh)
    }
}

/// Called on an I/O thread once the 101 answer went out; must not block (hand the socket to
/// a thread of its own).
public typealias UpgradeHandler = @Sendable (UpgradedSocket) -> Void

/// The handler, retained for libmicrohttpd until the upgrade runs (released there, once).
final class UpgradeContext {
    let handler: UpgradeHandler
    init(_ handler: @escaping UpgradeHandler) { self.handler = handler }
}

let upgradeTrampoline: MHD_UpgradeHandler = { cls, _, _, extraIn, extraInSize, sock, urh in
    guard let cls else { return }
    let context = Unmanaged<UpgradeContext>.fromOpaque(cls).takeRetainedValue()
    guard let urh else { return }
    var leftover: [UInt8] = []
    if let extraIn, extraInSize > 0 {
        leftover = Array(UnsafeRawBufferPointer(start: extraIn, count: extraInSize))
    }
    context.handler(UpgradedSocket(descriptor: sock, leftover: leftover, handle: urh))
}
