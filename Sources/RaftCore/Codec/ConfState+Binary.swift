/// Binary form of `ConfState` (see `BinaryWriter`): `encoded()` is read back exactly by
/// `init(decoding:)`, which throws `RaftError.decoding` on malformed input.
extension ConfState {
    /// The compact binary form.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        encode(into: &w)
        return w.bytes
    }

    /// Decodes exactly what `encoded()` produced (no trailing bytes).
    public init(decoding bytes: [UInt8]) throws(RaftError) {
        var r = BinaryReader(bytes)
        self = try ConfState(from: &r)
        try r.expectEnd()
    }

    func encode(into w: inout BinaryWriter) {
        w.write(UInt64(voters.count))
        for v in voters { w.write(v) }
        w.write(UInt64(learners.count))
        for l in learners { w.write(l) }
        let keys = attributes.keys.sorted()
        w.write(UInt64(keys.count))
        for k in keys {
            w.write(k)
            attributes[k]!.encode(into: &w)
        }
    }

    init(from r: inout BinaryReader) throws(RaftError) {
        var voters: [NodeID] = []
        for _ in 0..<(try r.readCount(minSize: 1)) { voters.append(try r.readUInt64()) }
        var learners: [NodeID] = []
        for _ in 0..<(try r.readCount(minSize: 1)) { learners.append(try r.readUInt64()) }
        var attributes: [NodeID: NodeAttributes] = [:]
        for _ in 0..<(try r.readCount(minSize: 4)) {
            let id = try r.readUInt64()
            attributes[id] = try NodeAttributes(from: &r)
        }
        self.init(voters: voters, learners: learners, attributes: attributes)
    }
}
