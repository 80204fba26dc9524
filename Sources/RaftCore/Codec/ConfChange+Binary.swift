/// Binary form of `ConfChange` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension ConfChange {
    /// The compact binary form.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.write(kind.rawValue)
        w.write(nodeID)
        attributes.encode(into: &w)
        return w.bytes
    }

    /// Decodes exactly what `encoded()` produced (no trailing bytes).
    public init(decoding bytes: [UInt8]) throws(RaftError) {
        var r = BinaryReader(bytes)
        let raw = try r.readUInt8()
        guard let kind = Kind(rawValue: raw) else { throw .decoding("bad conf change kind \(raw)") }
        self.init(kind: kind, nodeID: try r.readUInt64(), attributes: try NodeAttributes(from: &r))
        try r.expectEnd()
    }
}
