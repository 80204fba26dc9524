import Foundation
import PeerTransport
import RaftCore
import Replica
import Sharding
import Storage
import Synchronization
import XCTest

/// Splits of a live in-process cluster under writes to both halves, with faults: a
/// partitioned follower, and a follower that hears the new shard's traffic before it has
/// applied the split. Checked per group: at most one leader per term; every acknowledged
/// write on every node at its shard's index; a write refused as certainly not applied (a
/// straggler of the old range included) is nowhere.
final class ShardSplitTests: RuntimeTestCase {
    static let boundary = 500

    /// Writes documents whose buckets fall on both sides of `boundary`, routed like a node
    /// routes them (bucket → shard in the proposing node's table → that shard's leader); a
    /// refusal that certainly did nothing is recorded and not retried.
    final class SplitWriter: @unchecked Sendable {
        let ledger = Ledger(prefix: "s")
        private let cluster: RuntimeCluster
        private let stopFlag = Atomic<Bool>(false)
        private let inFlight = Atomic<Int>(0)
        private var thread: Thread?
        let mismatches = Atomic<Int>(0)

        init(cluster: RuntimeCluster) { self.cluster = cluster }

        func start() {
            let thread = Thread { [self] in
                var seq = 0
                while !stopFlag.load(ordering: .relaxed) {
                    if inFlight.load(ordering: .relaxed) >= 32 { usleep(500); continue }
                    seq += 1
                    let bucket = Bucket.of(ledger.key(seq))
                    // A proposing node's view: n1's table (it may still route to the old range).
                    let shard = cluster.nodes[0].store.shardTable.shard(for: bucket)?.id ?? 1
                    guard let leader = cluster.nodes.first(where: { $0.replica(shard: shard)?.leader.isSelf == true }),
                          let replica = leader.replica(shard: shard) else { usleep(2_000); continue }
                    inFlight.add(1, ordering: .relaxed)
                    let current = seq, name = leader.name
                    ledger.begin(current)
                    replica.propose(ledger.command(current)) { [self] result in
                        if case .failure(.shardMismatch) = result { mismatches.add(1, ordering: .relaxed) }
                        ledger.finish(current, result.map { (index: $0.index, servedBy: name) })
                        inFlight.subtract(1, ordering: .relaxed)
                    }
                }
            }
            self.thread = thread
            thread.start()
        }

        func stop() throws {
            stopFlag.store(true, ordering: .relaxed)
            try waitFor("writes in flight to finish", seconds: 15) { inFlight.load(ordering: .relaxed) == 0 }
        }

        /// Acknowledged writes whose bucket is in `range`.
        func acked(in range: ClosedRange<Int>) -> Int {
            ledger.acked.keys.count { range.contains(Bucket.of(ledger.key($0))) }
        }
    }

    /// Samples every node's groups: who says it leads which shard in which term.
    final class GroupLeaderMonitor: @unchecked Sendable {
        private let seen = Mutex<[String: String]>([:])
        private let violationsFound = Mutex<[String]>([])
        private let stopFlag = Atomic<Bool>(false)
        private let done = Atomic<Bool>(false)

        init(nodes: [RuntimeNode]) {
            let names = nodes.map(\.name)
            let groupSets = nodes.compactMap(\.groups)
            Thread.detachNewThread { [self] in
                while !stopFlag.load(ordering: .relaxed) {
                    for (name, groups) in zip(names, groupSets) {
                        for replica in groups.all where replica.leader.isSelf {
                            let key = "shard \(replica.configuration.shard) term \(replica.leader.term)"
                            seen.withLock { seen in
                                if let other = seen[key], other != name {
                                    violationsFound.withLock { $0.append("\(key): \(other) and \(name)") }
                                }
                                seen[key] = name
                            }
                        }
                    }
                    usleep(1_000)
                }
                done.store(true, ordering: .relaxed)
            }
        }

        func stop() -> [String] {
            stopFlag.store(true, ordering: .relaxed)
            while !done.load(ordering: .relaxed) { usleep(1_000) }
            return violationsFound.withLock { $0 }
        }
    }

    private func split(at bucket: Int) throws {
        let leader = try cluster.stableLeader()
        let result: Result<UInt64, ReplicaError>? = call(seconds: 10) {
            leader.replica.proposeControl(.split(newShard: bucket, at: bucket, expectedVersion: 1), completion: $0)
        }
        guard case .success = result else { return XCTFail("split not applied: \(String(describing: result))") }
    }

    /// Every node holds both groups and applied all its leader committed; then the ledger's
    /// writes are checked on every node, and both ranges' documents compared.
    private func assertShardsConverged(_ writer: SplitWriter) throws {
        try waitFor("every node to hold both shards and apply everything", seconds: 20) {
            for shard in [1, Self.boundary] {
                let replicas = cluster.nodes.compactMap { $0.replica(shard: shard) }
                guard replicas.count == cluster.nodes.count,
                      let leader = replicas.first(where: { $0.leader.isSelf }) else { return false }
                let commit = leader.status.commit
                guard replicas.allSatisfy({ $0.status.applied == commit && $0.status.commit == commit }) else { return false }
            }
            return true
        }
        var problems: [String] = []
        for (seq, status) in writer.ledger.all.sorted(by: { $0.key < $1.key }) {
            let key = writer.ledger.key(seq)
            let documents = cluster.nodes.map { try? $0.store.document(collection: Ledger.collection, id: key) }
            switch status {
            case let .acked(index, servedBy):
                for (node, document) in zip(cluster.nodes, documents) where document?.writeIndex != index {
                    problems.append("\(key) (bucket \(Bucket.of(key))): acknowledged at \(index) by \(servedBy); on \(node.name): \(String(describing: document?.writeIndex))")
                }
            case let .failed(error) where error != .timeout:
                if documents.contains(where: { $0 != nil }) { problems.append("\(key): refused (\(error)) but present") }
            case .pending:
                problems.append("\(key): still pending")
            case .failed:
                if Set(documents.map { $0 != nil }).count != 1 { problems.append("\(key): timed out and present on some nodes only") }
            }
        }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(20).joined(separator: "\n"))
        for node in cluster.nodes {
            XCTAssertEqual(node.store.shardTable.sorted, [
                ShardDescriptor(id: 1, firstBucket: 1, lastBucket: Self.boundary - 1, version: 2),
                ShardDescriptor(id: Self.boundary, firstBucket: Self.boundary, lastBucket: 1000, version: 2),
            ], node.name)
        }
        let collections = cluster.nodes.map { (try? $0.store.collections().map { "\($0.name)=\($0.count)" }) ?? [] }
        XCTAssertEqual(Set(collections).count, 1, "collection counts differ: \(collections)")
    }

    /// Writes to both halves; `fault` cuts `follower` off in some way; the split happens;
    /// writes to the new shard go on without the follower (`whileCut` checks its state then);
    /// the fault heals, the follower applies the split, writes go on; then every check.
    private func splitWhile(_ what: String, cutting follower: RuntimeNode, fault: () -> Void,
                            whileCut: () throws -> Void) throws {
        let writer = SplitWriter(cluster: cluster)
        let monitor = GroupLeaderMonitor(nodes: cluster.nodes)
        writer.start()
        try waitFor("writes before the split", seconds: 5) { writer.ledger.acked.count >= 100 }
        fault()
        try split(at: Self.boundary)
        let atSplit = writer.acked(in: Self.boundary...1000)
        try waitFor("writes to the new shard while \(follower.name) \(what)", seconds: 15) {
            writer.acked(in: Self.boundary...1000) >= atSplit + 100
        }
        try whileCut()
        cluster.heal()
        try waitFor("\(follower.name) to apply the split", seconds: 15) { follower.replica(shard: Self.boundary) != nil }
        let healed = writer.ledger.acked.count
        try waitFor("writes after healing", seconds: 10) { writer.ledger.acked.count >= healed + 100 }
        try writer.stop()
        XCTAssertEqual(monitor.stop(), [], "at most one leader per term in each group")
        print("\(name): \(writer.ledger.summary); \(writer.mismatches.load(ordering: .relaxed)) refused as shard mismatch")
        try assertShardsConverged(writer)
    }

    func testSplitUnderWritesWithAPartitionedFollower() throws {
        let leader = try cluster.stableLeader()
        let follower = try XCTUnwrap(cluster.nodes.first { $0 !== leader })
        try splitWhile("is cut off", cutting: follower, fault: { cluster.partition(follower) }) {
            XCTAssertNil(follower.replica(shard: Self.boundary), "a partitioned follower cannot have applied the split")
        }
    }

    func testAFollowerHearingTheNewShardFirstWaitsForTheSplit() throws {
        let leader = try cluster.stableLeader()
        let follower = try XCTUnwrap(cluster.nodes.first { $0 !== leader })
        // The map a node would have: it lists the new shard (the worst case: it is known
        // before the split is applied here).
        for node in cluster.nodes {
            node.listed.shards.withLock { $0[Self.boundary] = ShardDescriptor(id: Self.boundary, firstBucket: Self.boundary,
                                                                             lastBucket: 1000, version: 2) }
        }
        let before = follower.transport.statistics.peers[leader.raftID]?.receivedMessages ?? 0
        // Shard 1's traffic to the follower is lost; any other shard's flows.
        try splitWhile("misses shard 1", cutting: follower, fault: { cluster.inject { $0.droppedShards[follower.raftID] = [1] } }) {
            let received = follower.transport.statistics.peers[leader.raftID]?.receivedMessages ?? 0
            XCTAssertGreaterThan(received, before, "the new shard's traffic reached the follower")
            XCTAssertNil(follower.replica(shard: Self.boundary),
                         "the new shard's traffic must not create a group over a range shard 1 still owns here")
            XCTAssertEqual(follower.store.shardTable[1]?.lastBucket, 1000)
        }
    }
}
