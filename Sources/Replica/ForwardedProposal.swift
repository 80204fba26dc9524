import RaftCore
import Storage

/// A write proposed at the leader on behalf of another node, over the peer stream: the call's
/// payload carries the command, the reply the outcome (docs/ARCHITECTURE.md, "The gateway hop").
///
/// Call payload: tag 1, then `LogCommand.write` bytes (its proposal id unused).
/// Reply payload: one tag byte, then
/// - 0 applied: the serving node's id (u16-length string), then `CommandResult` bytes;
/// - 1 not the leader (nothing happened): the leader's URL if known (string, may be empty);
/// - 2 overloaded (nothing happened): reason; 3 stopping (nothing happened);
/// - 4 timed out at the leader (may or may not have happened);
/// - 5 refused (nothing happened): reason.
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
        switch result {
        case let .success(commandResult): return [0] + string(servedBy) + commandResult.encoded()
        case let .failure(.notLeader(url)): return [1] + string(url ?? "")
        case let .failure(.overloaded(why)): return [2] + string(why)
        case .failure(.stopped): return [3]
        case .failure(.timeout): return [4]
        case let .failure(error): return [5] + string("\(error)")
        }
    }

    /// The outcome a reply carries; a malformed reply counts as unknown (`timeout`).
    static func outcome(of payload: [UInt8]) -> Result<ForwardedWrite, ReplicaError> {
        guard let tag = payload.first else { return .failure(.timeout) }
        var rest = payload.dropFirst()
        switch tag {
        case 0:
            guard let servedBy = readString(&rest), let result = try? CommandResult(decoding: Array(rest)) else {
                return .failure(.timeout)
            }
            return .success(ForwardedWrite(result: result, servedBy: servedBy))
        case 1:
            let url = readString(&rest) ?? ""
            return .failure(.notLeader(leaderURL: url.isEmpty ? nil : url))
        case 2: return .failure(.overloaded(readString(&rest) ?? "leader overloaded"))
        case 3: return .failure(.stopped)
        case 5: return .failure(.rejected(readString(&rest) ?? "refused by the leader"))
        default: return .failure(.timeout)
        }
    }

    private static func string(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8.prefix(65_535))
        return [UInt8(bytes.count & 0xFF), UInt8(bytes.count >> 8)] + bytes
    }

    private static func readString(_ bytes: inout ArraySlice<UInt8>) -> String? {
        guard bytes.count >= 2 else { return nil }
        let length = Int(bytes[bytes.startIndex]) | Int(bytes[bytes.startIndex + 1]) << 8
        guard bytes.count >= 2 + length else { return nil }
        let text = String(decoding: bytes[(bytes.startIndex + 2)..<(bytes.startIndex + 2 + length)], as: UTF8.self)
        bytes = bytes.dropFirst(2 + length)
        return text
    }
}

/// A write the leader applied for this node: its result and the leader that served it.
public struct ForwardedWrite: Sendable {
    public let result: CommandResult
    public let servedBy: String
}
