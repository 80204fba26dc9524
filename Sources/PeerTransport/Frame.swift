import RaftCore

/// What travels on a peer stream (docs/ARCHITECTURE.md, "Peer streams").
///
/// Wire form of one frame: a 4-byte little-endian length of everything after it, one kind
/// byte, then the payload:
/// - `messages`: shard (u32 LE), then `Message.encodeBatch` bytes — Raft traffic of one group;
/// - `heartbeat`: nothing — keeps an idle link honest (the receiver drops a silent link);
/// - `call`: id (u64 LE), shard (u32 LE), opaque payload — a request the receiver answers
///   with a `reply` of the same id on its own stream back (e.g. a forwarded proposal);
/// - `reply`: id (u64 LE), opaque payload.
public enum PeerFrame: Sendable {
    case messages(shard: Int, [Message])
    case heartbeat
    case call(id: UInt64, shard: Int, payload: [UInt8])
    case reply(id: UInt64, payload: [UInt8])

    enum Kind: UInt8 { case messages = 1, heartbeat = 2, call = 3, reply = 4 }

    /// Largest frame a receiver accepts (length field); a larger one closes the link.
    public static let maxFrameBytes = 64 << 20

    /// Appends the wire form to `buffer`.
    func encode(into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: [0, 0, 0, 0])
        switch self {
        case let .messages(shard, messages):
            buffer.append(Kind.messages.rawValue)
            Wire.append(UInt32(truncatingIfNeeded: shard), to: &buffer)
            buffer.append(contentsOf: Message.encodeBatch(messages))
        case .heartbeat:
            buffer.append(Kind.heartbeat.rawValue)
        case let .call(id, shard, payload):
            buffer.append(Kind.call.rawValue)
            Wire.append(id, to: &buffer)
            Wire.append(UInt32(truncatingIfNeeded: shard), to: &buffer)
            buffer.append(contentsOf: payload)
        case let .reply(id, payload):
            buffer.append(Kind.reply.rawValue)
            Wire.append(id, to: &buffer)
            buffer.append(contentsOf: payload)
        }
        let length = UInt32(buffer.count - start - 4)
        withUnsafeBytes(of: length.littleEndian) { raw in
            for i in 0..<4 { buffer[start + i] = raw[i] }
        }
    }

    /// Decodes one frame body (kind byte and payload, without the length).
    static func decode(_ body: ArraySlice<UInt8>) throws(TransportError) -> PeerFrame {
        guard let first = body.first, let kind = Kind(rawValue: first) else {
            throw .badFrame("unknown frame kind \(body.first.map { "\($0)" } ?? "(empty)")")
        }
        var reader = Wire.Reader(body.dropFirst())
        func u32() throws(TransportError) -> UInt32 {
            guard let value = reader.u32() else { throw .badFrame("truncated frame") }
            return value
        }
        func u64() throws(TransportError) -> UInt64 {
            guard let value = reader.u64() else { throw .badFrame("truncated frame") }
            return value
        }
        switch kind {
        case .messages:
            let shard = Int(try u32())
            do {
                return .messages(shard: shard, try Message.decodeBatch(reader.rest()))
            } catch {
                throw .badFrame("messages: \(error)")
            }
        case .heartbeat:
            guard reader.atEnd else { throw .badFrame("heartbeat with a payload") }
            return .heartbeat
        case .call:
            let id = try u64()
            let shard = Int(try u32())
            return .call(id: id, shard: shard, payload: reader.rest())
        case .reply:
            let id = try u64()
            return .reply(id: id, payload: reader.rest())
        }
    }
}

/// Splits a byte stream into frames: `feed` bytes as they arrive, then take complete frames.
struct FrameReader {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { feed($0) } }

    /// The next complete frame body (kind + payload), nil when more bytes are needed.
    /// Throws for a length past `PeerFrame.maxFrameBytes` or zero.
    mutating func next() throws(TransportError) -> ArraySlice<UInt8>? {
        guard buffer.count - start >= 4 else { compact(); return nil }
        var length = 0
        for i in 0..<4 { length |= Int(buffer[start + i]) << (8 * i) }
        guard length > 0, length <= PeerFrame.maxFrameBytes else { throw .badFrame("frame length \(length)") }
        guard buffer.count - start - 4 >= length else { compact(); return nil }
        let body = buffer[(start + 4)..<(start + 4 + length)]
        start += 4 + length
        return body
    }

    /// Drops consumed bytes once they dominate the buffer, so it does not grow forever.
    private mutating func compact() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
