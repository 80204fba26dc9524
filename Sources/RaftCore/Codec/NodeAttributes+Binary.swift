/// Binary form of `NodeAttributes` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension NodeAttributes {
    func encode(into w: inout BinaryWriter) {
        w.write(level)
        w.write(priority)
        w.write(autoPromote)
    }

    init(from r: inout BinaryReader) throws(RaftError) {
        self.init(level: try r.readUInt8(), priority: try r.readUInt8(), autoPromote: try r.readBool())
    }
}
