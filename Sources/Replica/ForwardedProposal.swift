import PeerTransport
import RaftCore
import Sharding
import Storage

/// A write proposed at the leader on behalf of another node, over the peer stream: the call's
/// payload carries the command, the reply the outcome (docs/ARCHITECTURE.md, "The gateway hop").
///
/// Call payload: tag 1, then `LogCommand.write` bytes (its proposal id unused).
/// Reply payload: one tag byte, then
/// - 0 applied: the serving node's id (a `Wire` string), then `CommandResult` bytes;
/// - 1 not the leader (nothing happened): the leader's URL if known (string, may be empty);
/// - 2 overloaded (nothing happened): reason; 3 stopping (nothing happened);
/// - 4 timed out at the leader (may or may not have happened);
/// - 5 refused (nothing happened): reason;
/// - 6 shard mismatch (nothing happened): the shard's id, first and last bucket, version;
///   then, when the leader knows it, the owning shard's id, first and last bucket, version
///   and its leader's Raft id.
enum ForwardedProposal {
    /// The first payload byte of a forwarded write (other calls use other tags).
    static let tag: UInt8 = 1

    static func call(_ command: WriteCommand) -> [UInt8] {
        [tag] + LogCommand.write(command, proposal: ProposalID(node: 0, sequence: 0)).encoded()
    }

    static func command(from payload: [UInt8]) -> WriteCommand? {
        guard payload.first == tag, case let .write(command, _)? = try? LogCommand(decoding: Array(payload.dropFirst())) else {
            return nil
        }
        return command
    }

    static func reply(_ result: Result<CommandResult, ReplicaError>, servedBy: String) -> [UInt8] {
        func tagged(_ tag: UInt8, _ text: String? = nil) -> [UInt8] {
            var out: [UInt8] = [tag]
            if let text { Wire.append(text, to: &out) }
            return out
        }
        switch result {
        case let .success(commandResult): return tagged(0, servedBy) + commandResult.encoded()
        case let .failure(.notLeader(url)): return tagged(1, url ?? "")
        case let .failure(.overloaded(why)): return tagged(2, why)
        case .failure(.stopped): return tagged(3)
        case .failure(.timeout): return tagged(4)
        case let .failure(.shardMismatch(current, owner)):
            var out: [UInt8] = [6]
            func append(_ shard: ShardDescriptor) {
                Wire.append(UInt64(shard.id), to: &out)
                Wire.append(UInt64(bitPattern: Int64(shard.firstBucket)), to: &out)
                Wire.append(UInt64(bitPattern: Int64(shard.lastBucket)), to: &out)
                Wire.append(shard.version, to: &out)
            }
            append(current)
            if let owner {
                append(owner.shard)
                Wire.append(owner.leader, to: &out)
            }
            return out
        case let .failure(error): return tagged(5, "\(error)")
        }
    }

    /// The outcome a reply carries; a malformed reply counts as unknown (`timeout`).
    static func outcome(of payload: [UInt8]) -> Result<ForwardedWrite, ReplicaError> {
        var reader = Wire.Reader(payload)
        switch reader.u8() {
        case 0:
            guard let servedBy = reader.string(), let result = try? CommandResult(decoding: reader.rest()) else {
                return .failure(.timeout)
            }
            return .success(ForwardedWrite(result: result, servedBy: servedBy))
        case 1:
            let url = reader.string() ?? ""
            return .failure(.notLeader(leaderURL: url.isEmpty ? nil : url))
        case 2: return .failure(.overloaded(reader.string() ?? "leader overloaded"))
        case 3: return .failure(.stopped)
        case 5: return .failure(.rejected(reader.string() ?? "refused by the leader"))
        case 6:
            func shard() -> ShardDescriptor? {
                guard let id = reader.u64(), let first = reader.u64(), let last = reader.u64(), let version = reader.u64() else {
                    return nil
                }
                return ShardDescriptor(id: Int(id), firstBucket: Int(Int64(bitPattern: first)),
                                       lastBucket: Int(Int64(bitPattern: last)), version: version)
            }
            guard let current = shard() else { return .failure(.timeout) }
            let owner = shard().flatMap { owner in reader.u64().map { ShardOwner(shard: owner, leader: $0) } }
            return .failure(.shardMismatch(current, owner: owner))
        default: return .failure(.timeout)
        }
    }
}

/// A write the leader applied for this node: its result and the leader that served it.
public struct ForwardedWrite: Sendable {
    public let result: CommandResult
    public let servedBy: String
}
