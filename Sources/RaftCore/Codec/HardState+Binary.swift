/// Binary form of `HardState` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension HardState {
    /// The compact binary form.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.write(term)
        w.write(vote)
        w.write(commit)
        return w.bytes
    }

    /// Decodes exactly what `encoded()` produced (no trailing bytes).
    public init(decoding bytes: [UInt8]) throws(RaftError) {
        var r = BinaryReader(bytes)
        self.init(term: try r.readUInt64(), vote: try r.readUInt64(), commit: try r.readUInt64())
        try r.expectEnd()
    }
}
