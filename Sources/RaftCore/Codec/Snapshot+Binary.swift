/// Binary form of `Snapshot` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension Snapshot {
    /// The compact binary form.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: data.count + 32)
        encode(into: &w)
        return w.bytes
    }

    /// Decodes exactly what `encoded()` produced (no trailing bytes).
    public init(decoding bytes: [UInt8]) throws(RaftError) {
        var r = BinaryReader(bytes)
        self = try Snapshot(from: &r)
        try r.expectEnd()
    }

    func encode(into w: inout BinaryWriter) {
        w.write(metadata.index)
        w.write(metadata.term)
        metadata.confState.encode(into: &w)
        w.write(bytes: data)
    }

    init(from r: inout BinaryReader) throws(RaftError) {
        let index = try r.readUInt64()
        let term = try r.readUInt64()
        let conf = try ConfState(from: &r)
        self.init(metadata: SnapshotMetadata(index: index, term: term, confState: conf), data: try r.readBytes())
    }
}
