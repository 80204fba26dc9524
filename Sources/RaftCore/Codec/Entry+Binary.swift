/// Binary form of `Entry` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension Entry {
    /// The compact binary form.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: data.count + 16)
        encode(into: &w)
        return w.bytes
    }

    /// Decodes exactly what `encoded()` produced (no trailing bytes).
    public init(decoding bytes: [UInt8]) throws(RaftError) {
        var r = BinaryReader(bytes)
        self = try Entry(from: &r)
        try r.expectEnd()
    }

    func encode(into w: inout BinaryWriter) {
        w.write(term)
        w.write(index)
        w.write(kind.rawValue)
        w.write(bytes: data)
    }

    init(from r: inout BinaryReader) throws(RaftError) {
        let term = try r.readUInt64()
        let index = try r.readUInt64()
        let raw = try r.readUInt8()
        guard let kind = Kind(rawValue: raw) else { throw .decoding("bad entry kind \(raw)") }
        self.init(term: term, index: index, kind: kind, data: try r.readBytes())
    }
}
