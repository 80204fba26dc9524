/// Binary form of `CommandResult`, for answers sent between nodes (a proposal forwarded to the
/// leader is answered with the result it produced there). `init(decoding:)` reads exactly what
/// `encoded()` wrote and throws `StorageError.invalidCommand` on anything else.
extension CommandResult {
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 32 + outcomes.count * 48)
        writer.write(index)
        writer.write(UInt64(outcomes.count))
        for outcome in outcomes {
            switch outcome {
            case let .written(result):
                writer.write(UInt8(0))
                writer.write(result.collection)
                writer.write(result.id)
                writer.write(result.rev)
                writer.write(UInt64(result.bucket))
                writer.write(UInt8((result.created ? 1 : 0) | (result.deleted ? 2 : 0)))
            case .failed(.notFound):
                writer.write(UInt8(1))
            case let .failed(.preconditionFailed(current)):
                writer.write(UInt8(2))
                writer.write(current.map { $0 + 1 } ?? 0)
            case .failed(.notJSON):
                writer.write(UInt8(3))
            case .failed(.patchResultTooDeep):
                writer.write(UInt8(4))
            }
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws(StorageError) {
        var reader = ByteReader(bytes)
        let index = try reader.readUInt64()
        var outcomes: [WriteOutcome] = []
        for _ in 0..<(try reader.readCount(minimumSize: 1)) {
            switch try reader.readUInt8() {
            case 0:
                let collection = try reader.readString()
                let id = try reader.readString()
                let rev = try reader.readUInt64()
                let bucket = try reader.readUInt64()
                let flags = try reader.readUInt8()
                guard bucket <= UInt64(Int.max), flags & ~3 == 0 else { throw .invalidCommand("undecodable result: bad written outcome") }
                outcomes.append(.written(WriteResult(collection: collection, id: id, rev: rev, bucket: Int(bucket),
                                                     created: flags & 1 != 0, deleted: flags & 2 != 0)))
            case 1: outcomes.append(.failed(.notFound))
            case 2:
                let current = try reader.readUInt64()
                outcomes.append(.failed(.preconditionFailed(currentRev: current == 0 ? nil : current - 1)))
            case 3: outcomes.append(.failed(.notJSON))
            case 4: outcomes.append(.failed(.patchResultTooDeep))
            case let tag: throw .invalidCommand("undecodable result: outcome tag \(tag)")
            }
        }
        try reader.expectEnd()
        self.init(index: index, outcomes: outcomes)
    }
}
