/// Names a proposal so its proposer can match the applied entry to the request waiting for
/// it: `node` is the proposer's Raft id, `sequence` counts its proposals.
public struct ProposalID: Sendable, Hashable {
    public var node: UInt64
    public var sequence: UInt64

    public init(node: UInt64, sequence: UInt64) {
        self.node = node
        self.sequence = sequence
    }
}

/// One node of the replicated directory (table `members`): its name, Raft id and URL.
public struct Member: Sendable, Hashable {
    /// The node's name, e.g. "n1"; unique in the directory.
    public var id: String
    /// Its Raft node id (not 0).
    public var raftID: UInt64
    /// Where its API and internal endpoints listen, e.g. "http://10.0.0.1:8080".
    public var url: String
    /// Its size class, 1...5 (Smart Raft).
    public var level: Int
    /// The Raft index of the entry that admitted it (the bootstrap index for a founder).
    public var joinedAtIndex: UInt64

    public init(id: String, raftID: UInt64, url: String, level: Int, joinedAtIndex: UInt64) {
        self.id = id
        self.raftID = raftID
        self.url = url
        self.level = level
        self.joinedAtIndex = joinedAtIndex
    }
}

/// What a normal Raft entry carries. Encoded compactly (``encoded()``), with a version byte
/// first; ``init(decoding:)`` reads exactly what ``encoded()`` wrote and refuses anything else.
public enum LogCommand: Sendable, Equatable {
    /// A client write; applied with the entry's index as the documents' `write_index`.
    case write(WriteCommand, proposal: ProposalID)
    /// Adds or replaces a member of the directory (matched by Raft id; a row with the same
    /// name and another Raft id is replaced too).
    case upsertMember(Member)
    /// Removes a member from the directory.
    case removeMember(raftID: UInt64)
    /// Replaces the cluster map by `body` (version `version`) if the stored map is at
    /// `expectedVersion` (0: none yet); otherwise changes nothing. A compare-and-set, so a
    /// deposed leader's controller cannot overwrite a newer map.
    case setClusterMap(expectedVersion: UInt64, version: UInt64, body: [UInt8])
    /// Splits the group's range at `at`, the first bucket of the new shard `newShard` (whose
    /// id is `at`: see `ShardDescriptor.split(at:)`), if the range is still at
    /// `expectedVersion`; otherwise changes nothing (docs/ARCHITECTURE.md, "Shards").
    case split(newShard: Int, at: Int, expectedVersion: UInt64)

    /// The layout version written first.
    public static let encodingVersion: UInt8 = 1

    private enum Tag: UInt8 {
        case write = 1, upsertMember = 2, removeMember = 3, setClusterMap = 4, split = 5
    }

    private enum OperationTag: UInt8 {
        case put = 1, patch = 2, delete = 3
    }

    private enum PreconditionTag: UInt8 {
        case unconditional = 0, ifMatch = 1, ifExists = 2, ifAbsent = 3
    }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: estimatedSize)
        writer.write(Self.encodingVersion)
        switch self {
        case let .write(command, proposal):
            writer.write(Tag.write.rawValue)
            writer.write(proposal.node)
            writer.write(proposal.sequence)
            writer.write(signed: command.timestampMilliseconds)
            writer.write(UInt64(command.operations.count))
            for operation in command.operations { Self.encode(operation, into: &writer) }
        case let .upsertMember(member):
            writer.write(Tag.upsertMember.rawValue)
            writer.write(member.id)
            writer.write(member.raftID)
            writer.write(member.url)
            writer.write(signed: Int64(member.level))
            writer.write(member.joinedAtIndex)
        case let .removeMember(raftID):
            writer.write(Tag.removeMember.rawValue)
            writer.write(raftID)
        case let .setClusterMap(expectedVersion, version, body):
            writer.write(Tag.setClusterMap.rawValue)
            writer.write(expectedVersion)
            writer.write(version)
            writer.write(bytes: body)
        case let .split(newShard, at, expectedVersion):
            writer.write(Tag.split.rawValue)
            writer.write(signed: Int64(newShard))
            writer.write(signed: Int64(at))
            writer.write(expectedVersion)
        }
        return writer.bytes
    }

    private var estimatedSize: Int {
        if case let .setClusterMap(_, _, body) = self { return body.count + 32 }
        guard case let .write(command, _) = self else { return 64 }
        var size = 32
        for operation in command.operations {
            size += operation.collection.utf8.count + operation.id.utf8.count + 24
            switch operation {
            case let .put(_, _, contentType, body, _, _): size += contentType.utf8.count + body.count
            case let .patch(_, _, patch, _): size += patch.count
            case .delete: break
            }
        }
        return size
    }

    private static func encode(_ operation: WriteOperation, into writer: inout ByteWriter) {
        switch operation {
        case let .put(collection, id, contentType, body, isJSON, precondition):
            writer.write(OperationTag.put.rawValue)
            writer.write(collection)
            writer.write(id)
            writer.write(contentType)
            writer.write(isJSON ? UInt8(1) : 0)
            writer.write(bytes: body)
            encode(precondition, into: &writer)
        case let .patch(collection, id, patch, precondition):
            writer.write(OperationTag.patch.rawValue)
            writer.write(collection)
            writer.write(id)
            writer.write(bytes: patch)
            encode(precondition, into: &writer)
        case let .delete(collection, id, precondition):
            writer.write(OperationTag.delete.rawValue)
            writer.write(collection)
            writer.write(id)
            encode(precondition, into: &writer)
        }
    }

    private static func encode(_ precondition: Precondition, into writer: inout ByteWriter) {
        switch precondition {
        case .none: writer.write(PreconditionTag.unconditional.rawValue)
        case let .ifMatch(revs):
            writer.write(PreconditionTag.ifMatch.rawValue)
            writer.write(UInt64(revs.count))
            for rev in revs { writer.write(rev) }
        case .ifExists: writer.write(PreconditionTag.ifExists.rawValue)
        case .ifAbsent: writer.write(PreconditionTag.ifAbsent.rawValue)
        }
    }

    // MARK: Decoding

    /// Decodes what ``encoded()`` wrote; anything else (another version, a truncated or
    /// trailing byte, invalid UTF-8) throws ``StorageError/invalidCommand(_:)``.
    public init(decoding bytes: [UInt8]) throws(StorageError) {
        var reader = ByteReader(bytes)
        let version = try reader.readUInt8()
        guard version == Self.encodingVersion else {
            throw .invalidCommand("undecodable log command: unknown version \(version)")
        }
        let raw = try reader.readUInt8()
        switch Tag(rawValue: raw) {
        case .write:
            let proposal = ProposalID(node: try reader.readUInt64(), sequence: try reader.readUInt64())
            let timestamp = try reader.readSigned()
            let count = try reader.readCount(minimumSize: 4)
            var operations: [WriteOperation] = []
            operations.reserveCapacity(count)
            for _ in 0..<count { operations.append(try Self.decodeOperation(&reader)) }
            self = .write(WriteCommand(operations: operations, timestampMilliseconds: timestamp), proposal: proposal)
        case .upsertMember:
            let id = try reader.readString()
            let raftID = try reader.readUInt64()
            let url = try reader.readString()
            let level = try reader.readSigned()
            guard let level = Int(exactly: level) else { throw .invalidCommand("undecodable log command: level out of range") }
            self = .upsertMember(Member(id: id, raftID: raftID, url: url, level: level, joinedAtIndex: try reader.readUInt64()))
        case .removeMember:
            self = .removeMember(raftID: try reader.readUInt64())
        case .setClusterMap:
            self = .setClusterMap(expectedVersion: try reader.readUInt64(), version: try reader.readUInt64(),
                                  body: try reader.readBytes())
        case .split:
            let shard = try reader.readSigned(), at = try reader.readSigned()
            guard let shard = Int(exactly: shard), let at = Int(exactly: at), shard > 1 else {
                throw .invalidCommand("undecodable log command: split shard or bucket out of range")
            }
            self = .split(newShard: shard, at: at, expectedVersion: try reader.readUInt64())
        case nil:
            throw .invalidCommand("undecodable log command: unknown kind \(raw)")
        }
        try reader.expectEnd()
    }

    private static func decodeOperation(_ reader: inout ByteReader) throws(StorageError) -> WriteOperation {
        let raw = try reader.readUInt8()
        guard let tag = OperationTag(rawValue: raw) else {
            throw .invalidCommand("undecodable log command: unknown operation \(raw)")
        }
        let collection = try reader.readString()
        let id = try reader.readString()
        switch tag {
        case .put:
            let contentType = try reader.readString()
            let flags = try reader.readUInt8()
            guard flags <= 1 else { throw .invalidCommand("undecodable log command: bad put flags \(flags)") }
            let body = try reader.readBytes()
            return .put(collection: collection, id: id, contentType: contentType, body: body, isJSON: flags == 1,
                        precondition: try decodePrecondition(&reader))
        case .patch:
            let patch = try reader.readBytes()
            return .patch(collection: collection, id: id, patch: patch, precondition: try decodePrecondition(&reader))
        case .delete:
            return .delete(collection: collection, id: id, precondition: try decodePrecondition(&reader))
        }
    }

    private static func decodePrecondition(_ reader: inout ByteReader) throws(StorageError) -> Precondition {
        let raw = try reader.readUInt8()
        switch PreconditionTag(rawValue: raw) {
        case .unconditional: return .none
        case .ifMatch:
            let count = try reader.readCount(minimumSize: 1)
            var revs: [UInt64] = []
            revs.reserveCapacity(count)
            for _ in 0..<count { revs.append(try reader.readUInt64()) }
            return .ifMatch(revs)
        case .ifExists: return .ifExists
        case .ifAbsent: return .ifAbsent
        case nil: throw .invalidCommand("undecodable log command: unknown precondition \(raw)")
        }
    }
}
