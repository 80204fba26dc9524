import PeerTransport
import RaftCore
import Sharding
import Storage
import Sync
import Synchronization

/// Who leads the group, as this node knows it now.
public struct Leadership: Sendable, Equatable {
    /// The leader's Raft id and URL; nil when none is known.
    public var leader: NodeID?
    public var leaderURL: String?
    /// This node leads.
    public var isSelf = false
    public var term: UInt64 = 0

    public init(leader: NodeID? = nil, leaderURL: String? = nil, isSelf: Bool = false, term: UInt64 = 0) {
        self.leader = leader
        self.leaderURL = leaderURL
        self.isSelf = isSelf
        self.term = term
    }
}

extension Replica {
    /// Who leads now (cheap: no copy of the full status).
    public var leader: Leadership { leadership.withLock { $0 } }

    /// Sends `command` to the leader `leader` as a proposal over the peer stream and answers
    /// with the result it applied there. `completion` runs on a transport thread (or here):
    /// - `notLeader`, `notSent`, `overloaded`, `stopped`, `rejected`: nothing happened;
    /// - `timeout`: no answer in time (the proposal timeout plus a margin) — unknown outcome.
    ///
    /// `shard`: another shard's group to propose it in (a shard this node holds no data of
    /// yet, whose leader another node named); the call waits in this replica's registry.
    public func forward(_ command: WriteCommand, to leader: NodeID, shard: Int? = nil,
                        completion: @escaping @Sendable (Result<ForwardedWrite, ReplicaError>) -> Void) {
        if stopped { return completion(.failure(.stopped)) }
        let decoded: PendingCalls.Completion = { result in completion(result.flatMap(ForwardedProposal.outcome(of:))) }
        guard let id = calls.register(peer: leader, timeoutMilliseconds: configuration.proposalTimeoutMilliseconds + 1_000,
                                      completion: decoded) else {
            return completion(.failure(.overloaded("\(calls.capacity) writes waiting for the leader")))
        }
        if !transport.call(leader, id: id, shard: shard ?? configuration.shard, payload: ForwardedProposal.call(command)) {
            calls.complete(id, .failure(.notSent))
        }
    }

    /// A peer forwarded a write for a shard this node holds no replica of: "not the leader"
    /// (nothing happened; the caller routes it again from the map).
    func refuseCall(id: UInt64, from peer: NodeID) {
        let answer: Result<CommandResult, ReplicaError> = .failure(.notLeader(leaderURL: nil))
        transport.reply(peer, id: id, payload: ForwardedProposal.reply(answer, servedBy: configuration.nodeID))
    }

    /// A peer forwarded a write: propose it here (if this node leads) and reply with the outcome.
    /// `owner(bucket)`: the shard owning a bucket here and its leader, named in a
    /// shard-mismatch answer so the caller can send the write there.
    func serveCall(id: UInt64, payload: [UInt8], from peer: NodeID, owner: @escaping @Sendable (Int) -> ShardOwner?) {
        let transport = self.transport, nodeID = configuration.nodeID
        let leadership = leader
        guard leadership.isSelf else {
            // Not the leader: say so at once, without a trip through the Raft thread.
            let answer: Result<CommandResult, ReplicaError> = .failure(.notLeader(leaderURL: leadership.leaderURL))
            return transport.reply(peer, id: id, payload: ForwardedProposal.reply(answer, servedBy: nodeID))
        }
        guard let command = ForwardedProposal.command(from: payload) else {
            let answer: Result<CommandResult, ReplicaError> = .failure(.rejected("undecodable forwarded write"))
            return transport.reply(peer, id: id, payload: ForwardedProposal.reply(answer, servedBy: nodeID))
        }
        propose(command) { result in
            var result = result
            if case let .failure(.shardMismatch(current, nil)) = result, let first = command.operations.first {
                result = .failure(.shardMismatch(current, owner: owner(Bucket.of(first.id))))
            }
            transport.reply(peer, id: id, payload: ForwardedProposal.reply(result, servedBy: nodeID))
        }
    }
}

/// The node's `PeerInbox`: hands each shard's Raft traffic and forwarded writes to that
/// shard's replica, other calls to the request handler (requests relayed between nodes), and
/// replies to whoever waits for them (by call id range).
public final class PeerRouter: PeerInbox {
    public typealias CallHandler = @Sendable (_ id: UInt64, _ payload: [UInt8], _ from: NodeID) -> Void

    /// Requests this node relayed to others over the streams; ids from 2^63 (forwarded writes
    /// use `PendingCalls.firstID(shard:)` per shard, so a reply finds its waiter by id alone).
    public let relays: PendingCalls
    private let groups = Mutex<[Int: Replica]>([:])
    private let handler = Mutex<CallHandlerBox?>(nil)
    private let unknownShard = Mutex<UnknownShardBox?>(nil)

    public init(maxRelays: Int = 8_192) {
        relays = PendingCalls(capacity: maxRelays, firstID: PeerRouter.relayIDBase, name: "relayed-calls")
    }

    static let relayIDBase: UInt64 = 1 << 63

    /// Routes `replica.configuration.shard`'s traffic to `replica` (replacing any earlier one).
    public func register(_ replica: Replica) {
        groups.withLock { $0[replica.configuration.shard] = replica }
    }

    /// Stops routing `shard`'s traffic (its replica here was dropped).
    public func unregister(shard: Int) {
        _ = groups.withLock { $0.removeValue(forKey: shard) }
    }

    /// Where calls that are not forwarded writes go (payload tag other than 1).
    public func handleCalls(_ handler: @escaping CallHandler) {
        let box = CallHandlerBox(handler)
        self.handler.withLock { $0 = box }
    }

    private func replica(_ shard: Int) -> Replica? { groups.withLock { $0[shard] } }
    private var all: [Replica] { groups.withLock { Array($0.values) } }

    /// Called (on a transport thread) with traffic for a shard no replica is registered for.
    public func onUnknownShard(_ handler: @escaping @Sendable (_ shard: Int, _ from: NodeID) -> Void) {
        let box = UnknownShardBox(handler)
        unknownShard.withLock { $0 = box }
    }

    public func deliver(_ messages: [Message], shard: Int, from: NodeID) {
        if let replica = replica(shard) { return replica.deliver(messages) }
        unknownShard.withLock { $0 }?.call(shard, from)
        replica(shard)?.deliver(messages)  // created just now: the messages are its first input
    }

    public func call(id: UInt64, shard: Int, payload: [UInt8], from: NodeID) {
        if payload.first == ForwardedProposal.tag {
            // No replica of the shard here (moved away, or not received yet): nothing
            // happened, the caller routes again.
            guard let target = replica(shard) else {
                replica(1)?.refuseCall(id: id, from: from)
                return
            }
            target.serveCall(id: id, payload: payload, from: from) { [weak self] bucket in
                guard let self, let owner = replica(shard)?.store.shardTable.shard(for: bucket),
                      let leader = replica(owner.id)?.leader.leader else { return nil }
                return ShardOwner(shard: owner, leader: leader)
            }
        } else {
            handler.withLock { $0 }?.call(id, payload, from)
        }
    }

    public func reply(id: UInt64, payload: [UInt8], from: NodeID) {
        waiters(of: id)?.complete(id, from: from, .success(payload))
    }

    /// The registry call `id` was made from: relays, or the forwarded writes of its shard.
    private func waiters(of id: UInt64) -> PendingCalls? {
        id >= Self.relayIDBase ? relays : replica(PendingCalls.shard(ofCall: id))?.calls
    }

    public func unreachable(_ peer: NodeID) {
        for replica in all { replica.reportUnreachable(peer) }
    }

    public func linkLost(_ peer: NodeID) {
        relays.fail(peer: peer, .timeout)
        for replica in all { replica.calls.fail(peer: peer, .timeout) }
    }

    public func callsNotSent(_ ids: [UInt64], to peer: NodeID) {
        for id in ids { waiters(of: id)?.complete(id, from: peer, .failure(.notSent)) }
    }

    /// Stops the relay timer and fails relays still waiting (unknown outcome).
    public func close() { relays.close() }
}

final class UnknownShardBox: Sendable {
    let call: @Sendable (Int, NodeID) -> Void
    init(_ call: @escaping @Sendable (Int, NodeID) -> Void) { self.call = call }
}

/// A call handler, boxed (a closure kept directly in a `Mutex` is re-thunked on every access).
final class CallHandlerBox: Sendable {
    let call: PeerRouter.CallHandler
    init(_ call: @escaping PeerRouter.CallHandler) { self.call = call }
}
