/// Binary form of `Message` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension Message {
    /// Layout version written first by `encoded()`.
    public static let encodingVersion: UInt8 = 1

    /// The compact binary form.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 48 + entries.reduce(0) { $0 + $1.data.count + 8 } + context.count)
        encode(into: &w)
        return w.bytes
    }

    /// Decodes exactly what `encoded()` produced (no trailing bytes).
    public init(decoding bytes: [UInt8]) throws(RaftError) {
        var r = BinaryReader(bytes)
        self = try Message(from: &r)
        try r.expectEnd()
    }

    /// Encodes several messages into one buffer (a transport batch).
    public static func encodeBatch(_ messages: [Message]) -> [UInt8] {
        var w = BinaryWriter()
        w.write(UInt64(messages.count))
        for m in messages { m.encode(into: &w) }
        return w.bytes
    }

    /// Decodes what `encodeBatch(_:)` produced.
    public static func decodeBatch(_ bytes: [UInt8]) throws(RaftError) -> [Message] {
        var r = BinaryReader(bytes)
        var result: [Message] = []
        for _ in 0..<(try r.readCount(minSize: 8)) { result.append(try Message(from: &r)) }
        try r.expectEnd()
        return result
    }

    func encode(into w: inout BinaryWriter) {
        w.write(Message.encodingVersion)
        w.write(kind.rawValue)
        w.write(from)
        w.write(to)
        w.write(term)
        w.write(logTerm)
        w.write(index)
        w.write(commit)
        w.write(commitTerm)
        var flags: UInt8 = 0
        if reject { flags |= 1 }
        if transfer { flags |= 2 }
        if snapshot != nil { flags |= 4 }
        w.write(flags)
        w.write(rejectHint)
        w.write(bytes: context)
        w.write(UInt64(entries.count))
        for e in entries { e.encode(into: &w) }
        if let snapshot { snapshot.encode(into: &w) }
    }

    init(from r: inout BinaryReader) throws(RaftError) {
        let version = try r.readUInt8()
        guard version == Message.encodingVersion else { throw .decoding("unknown message version \(version)") }
        let raw = try r.readUInt8()
        guard let kind = Kind(rawValue: raw) else { throw .decoding("bad message kind \(raw)") }
        let from = try r.readUInt64()
        let to = try r.readUInt64()
        let term = try r.readUInt64()
        let logTerm = try r.readUInt64()
        let index = try r.readUInt64()
        let commit = try r.readUInt64()
        let commitTerm = try r.readUInt64()
        let flags = try r.readUInt8()
        guard flags & ~7 == 0 else { throw .decoding("bad message flags \(flags)") }
        let rejectHint = try r.readUInt64()
        let context = try r.readBytes()
        var entries: [Entry] = []
        for _ in 0..<(try r.readCount(minSize: 4)) { entries.append(try Entry(from: &r)) }
        let snapshot = flags & 4 != 0 ? try Snapshot(from: &r) : nil
        self.init(
            kind: kind, from: from, to: to, term: term, logTerm: logTerm, index: index, commit: commit,
            commitTerm: commitTerm, entries: entries, reject: flags & 1 != 0, rejectHint: rejectHint,
            transfer: flags & 2 != 0, context: context, snapshot: snapshot)
    }
}
