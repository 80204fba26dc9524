import Foundation
import Glibc
import PeerTransport
import RaftCore
import Replica
import Storage
import Sync

/// Several nodes' Raft loops and stores in this process, over the real transport on loopback.
///
/// Formation follows the real cluster's path (ClusterController, TopologyController): the first
/// node bootstraps a one-voter group; the others start empty, learn the members (as from a
/// join answer) and are added by the leader as learners — they catch up with a snapshot,
/// since the founder's log starts after its bootstrap index — then promoted to voters and
/// given priority 1 (learners join as priority-0, last-resort voters).
final class RuntimeCluster {
    static let clusterToken = "runtime-test-token"
    let seed: UInt64
    let nodes: [RuntimeNode]
    let root: String

    init(size: Int = 3, seed: UInt64) throws {
        self.seed = seed
        var template = Array("/tmp/machdb-runtime-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp failed")
        }
        root = String(cString: created)
        var nodes: [RuntimeNode] = []
        for index in 1...size {
            let directory = root + "/n\(index)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            nodes.append(try RuntimeNode(name: "n\(index)", directory: directory, clusterToken: Self.clusterToken))
        }
        self.nodes = nodes
    }

    var targets: [Target] { nodes.map { Target(name: $0.name, raftID: $0.raftID, replica: $0.replica) } }

    func node(_ raftID: NodeID?) -> RuntimeNode? { nodes.first { $0.raftID == raftID } }

    // MARK: Formation

    func form() throws {
        let founder = nodes[0]
        try founder.startRaft(bootstrap: true, seed: seed &+ 1)
        try waitFor("\(founder.name) to lead its group of one", seconds: 5) { founder.leads && founder.status.committedInTerm }
        let members = nodes.map(\.member)
        for (offset, node) in nodes.enumerated().dropFirst() {
            try node.startRaft(bootstrap: false, seed: seed &+ UInt64(offset + 1))
            node.replica.learn(peers: members)
        }
        for node in nodes.dropFirst() {
            let added: Result<Void, ReplicaError>? = call(seconds: 20) { founder.replica.addMember(node.member, completion: $0) }
            guard case .success? = added else { throw HarnessError("adding \(node.name) as a learner: \(String(describing: added))") }
        }
        try waitFor("the learners to catch up (snapshot, then log)", seconds: 15) {
            let status = founder.status
            return nodes.dropFirst().allSatisfy { node in status.members.contains { $0.raftID == node.raftID && $0.caughtUp } }
        }
        for node in nodes.dropFirst() {
            let attributes = NodeAttributes(level: 1, priority: 1, autoPromote: false)
            for change in [ConfChange.promote(node.raftID), .updateAttributes(node.raftID, attributes)] {
                let changed: Result<Void, ReplicaError>? = call(seconds: 10) { founder.replica.changeMembership(change, completion: $0) }
                guard case .success? = changed else { throw HarnessError("\(change.kind) \(node.name): \(String(describing: changed))") }
            }
        }
        try waitFor("every node to see \(nodes.count) electable voters under one leader", seconds: 10) {
            let commit = founder.status.commit
            return nodes.allSatisfy { node in
                let status = node.status
                return node.replica.leader.leader == founder.raftID && status.applied == commit
                    && status.members.filter({ $0.isVoter && $0.priority > 0 }).count == nodes.count
            }
        }
    }

    // MARK: Leadership

    /// Waits until one node leads, has committed in its term, and every other node (except
    /// `excluding`) follows it in the same term.
    func stableLeader(seconds: Double = 10, excluding: Set<String> = []) throws -> RuntimeNode {
        var found: RuntimeNode?
        try waitFor("one leader that every node follows", seconds: seconds) {
            let members = nodes.filter { !excluding.contains($0.name) }
            let leaders = members.filter(\.leads)
            guard leaders.count == 1, let leader = leaders.first, leader.status.committedInTerm else { return false }
            let term = leader.replica.leader.term
            found = leader
            return members.allSatisfy { $0.replica.leader.leader == leader.raftID && $0.replica.leader.term == term }
        }
        return found!
    }

    // MARK: Faults

    /// Cuts `isolated` off from every other node, both ways (links stay open; frames are lost).
    func partition(_ isolated: RuntimeNode) {
        for node in nodes where node !== isolated { node.faults.partitioned.insert(isolated.raftID) }
        isolated.faults.partitioned = Set(nodes.filter { $0 !== isolated }.map(\.raftID))
    }

    /// Applies `adjust` to every node's faults (with a seed of its own, derived from the cluster's).
    func inject(_ adjust: (inout TransportFaults.Settings) -> Void) {
        for (offset, node) in nodes.enumerated() {
            var settings = node.faults
            adjust(&settings)
            settings.seed = seed &+ 1_000 &+ UInt64(offset)
            node.faults = settings
        }
    }

    func heal() { for node in nodes { node.faults = TransportFaults.Settings() } }

    // MARK: Checks

    /// Waits for a stable leader and for every node to apply everything it committed, then
    /// checks every write of `ledgers` on every node: an acknowledged write is present with its
    /// index and body; a write that certainly did not happen (`notLeader`, `overloaded`,
    /// `notSent`, `stopped`, `rejected`) is absent; any write is present on all nodes or none.
    /// Returns the problems found (empty when converged and nothing was lost).
    func convergenceProblems(_ ledgers: [Ledger], seconds: Double = 15) throws -> [String] {
        let leader = try stableLeader(seconds: seconds)
        let highestAcked = ledgers.flatMap(\.acked.values).max() ?? 0
        try waitFor("every node to apply the leader's log (at least index \(highestAcked))", seconds: seconds) {
            let commit = leader.status.commit
            return commit >= highestAcked && nodes.allSatisfy { $0.status.applied == commit && $0.status.commit == commit }
        }
        var problems: [String] = []
        for ledger in ledgers {
            for (seq, status) in ledger.all.sorted(by: { $0.key < $1.key }) {
                let key = ledger.key(seq)
                let documents = nodes.map { try? $0.store.document(collection: Ledger.collection, id: key) }
                let present = documents.map { $0 != nil }
                if Set(present).count != 1 {
                    problems.append("\(key): present on \(zip(nodes, present).filter(\.1).map(\.0.name)) only (\(status))")
                    continue
                }
                switch status {
                case let .acked(index, servedBy):
                    for (node, document) in zip(nodes, documents) {
                        guard let document else {
                            problems.append("\(key): acknowledged at \(index) by \(servedBy), missing on \(node.name)")
                            continue
                        }
                        if document.writeIndex != index || document.body != ledger.body(seq) {
                            problems.append("\(key): on \(node.name) index \(document.writeIndex) body \(document.body), acknowledged \(index)")
                        }
                    }
                case let .failed(error) where error != .timeout:
                    if present[0] { problems.append("\(key): failed with '\(error)' (nothing happened) but present") }
                case .pending:
                    problems.append("\(key): still pending")
                case .failed:
                    break  // timed out: either way, as long as every node agrees
                }
            }
        }
        let collections = nodes.map { (try? $0.store.collections().map { "\($0.name)=\($0.count)" }) ?? ["unreadable"] }
        if Set(collections).count != 1 { problems.append("collections differ: \(zip(nodes.map(\.name), collections).map { "\($0): \($1)" })") }
        return problems
    }

    // MARK: Lifecycle

    func stop() {
        for node in nodes { node.stop() }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Every node's captured log and last status, for a failed test.
    func dump() -> String {
        var out = "cluster seed \(seed)\n"
        for node in nodes {
            let status = node.replica.map { replica in
                let s = replica.status
                return "role \(s.role) term \(s.term) leader \(s.leaderID ?? "none") commit \(s.commit) applied \(s.applied)"
            } ?? "not started"
            let transport = node.transport.statistics.peers.values.sorted { $0.id < $1.id }.map { peer in
                "→\(self.node(peer.id)?.name ?? "\(peer.id)"): connected \(peer.connected) sent \(peer.sentMessages) dropped \(peer.dropped) "
                    + "reconnects \(peer.reconnects) failures \(peer.failures) last error \(peer.lastError ?? "none")"
            }
            out += "==== \(node.name) (\(node.url)): \(status)\n    " + transport.joined(separator: "\n    ") + "\n"
            out += node.logs.all.suffix(400).joined(separator: "\n") + "\n"
        }
        return out
    }
}
