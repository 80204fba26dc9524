import RaftCore
import Sharding
import Storage

/// The split simulation's safety properties, per group, over everything every node ever
/// applied or committed (docs/ARCHITECTURE.md, "Shards"). Its own record of ranges (from the
/// split entries applied) is what the nodes' descriptors are checked against. The first
/// violation is recorded as text and stops the run.
final class SplitSimChecker {
    private(set) var violations: [String] = []
    var ok: Bool { violations.isEmpty }

    /// shard → term → the node that led it.
    private var leaderOfTerm: [Int: [UInt64: NodeID]] = [:]
    /// shard → index → (term, data digest) of the committed entry there.
    private var committed: [Int: [UInt64: (term: UInt64, data: UInt64)]] = [:]
    /// shard → applied index → (digest of the documents in the group's range then, first node).
    private var stateAt: [Int: [UInt64: (digest: UInt64, node: NodeID)]] = [:]
    /// shard → the range it was created with.
    private(set) var created: [Int: ShardDescriptor] = [1: .whole]
    /// shard → the splits applied in its log: (index, the first bucket given away).
    private var splits: [Int: [(index: UInt64, at: Int)]] = [:]
    /// attempt → where it was applied and whether it wrote (false: refused), as first seen.
    private(set) var outcome: [UInt64: (shard: Int, index: UInt64, applied: Bool)] = [:]
    /// attempt → the bucket of its document (set by the simulation when it proposes).
    var bucketOf: [UInt64: Int] = [:]
    /// attempt → its client request; request → the attempt that wrote.
    var requestOf: [UInt64: Int] = [:]
    private(set) var writtenBy: [Int: UInt64] = [:]
    private(set) var elections = 0

    func fail(_ message: String) {
        if violations.isEmpty { violations.append(message) }
    }

    /// The range of `shard` once its log is applied up to `index` (nil: not created).
    func range(of shard: Int, after index: UInt64) -> ClosedRange<Int>? {
        guard let start = created[shard]?.buckets else { return nil }
        var last = start.upperBound
        for split in splits[shard] ?? [] where split.index <= index { last = min(last, split.at - 1) }
        return start.lowerBound...last
    }

    /// The newest range of every shard created so far.
    var shards: [(shard: Int, buckets: ClosedRange<Int>)] {
        created.keys.sorted().compactMap { shard in range(of: shard, after: .max).map { (shard, $0) } }
    }

    // MARK: Observations

    /// Election safety: at most one leader per term, per group.
    func leads(_ node: NodeID, shard: Int, term: UInt64) {
        if let known = leaderOfTerm[shard, default: [:]][term] {
            if known != node { fail("shard \(shard): nodes \(known) and \(node) both lead term \(term)") }
        } else {
            leaderOfTerm[shard, default: [:]][term] = node
            elections += 1
        }
    }

    /// Log matching on the committed prefix: one entry per (group, index) on every node.
    func committed(_ entry: Entry, shard: Int, node: NodeID) {
        let data = digest(entry.data) ^ UInt64(entry.kind.rawValue)
        if let known = committed[shard, default: [:]][entry.index] {
            if known.term != entry.term || known.data != data {
                fail("shard \(shard): node \(node) committed index \(entry.index) term \(entry.term), another node term \(known.term)" +
                     (known.term == entry.term ? " with other data" : ""))
            }
        } else {
            committed[shard, default: [:]][entry.index] = (entry.term, data)
        }
    }

    /// What a save applied on `node` (`entries`: the `Ready`'s committed entries), checked
    /// against what every other node applied at the same indexes of the same group.
    func applied(_ results: [AppliedEntry], entries: [Entry], shard: Int, node: NodeID) {
        let byIndex = Dictionary(entries.map { ($0.index, $0) }, uniquingKeysWith: { $1 })
        for result in results {
            guard let entry = byIndex[result.index] else {
                fail("node \(node) shard \(shard) applied \(result.index), not among the committed entries handed out")
                return
            }
            committed(entry, shard: shard, node: node)
            if let child = result.split { splitApplied(child, shard: shard, index: result.index, node: node) }
            guard let proposal = result.proposal else { continue }
            write(attempt: proposal.sequence, result: result, shard: shard, node: node)
        }
    }

    private func splitApplied(_ child: ShardDescriptor, shard: Int, index: UInt64, node: NodeID) {
        if let known = created[child.id], known != child {
            return fail("node \(node) split shard \(shard) at \(index) into \(child), already created as \(known)")
        }
        guard let range = range(of: shard, after: index - 1), range.contains(child.firstBucket), range.upperBound == child.lastBucket else {
            return fail("node \(node) split shard \(shard) at \(index) into \(child), not the upper part of its range")
        }
        created[child.id] = child
        if !(splits[shard] ?? []).contains(where: { $0.index == index }) {
            splits[shard, default: []].append((index, child.firstBucket))
        }
    }

    private func write(attempt: UInt64, result: AppliedEntry, shard: Int, node: NodeID) {
        let wrote = result.result != nil
        if let known = outcome[attempt] {
            if known.shard != shard || known.index != result.index || known.applied != wrote {
                fail("""
                    attempt \(attempt): node \(node) \(wrote ? "applied" : "refused") it in shard \(shard) at \(result.index); \
                    first seen \(known.applied ? "applied" : "refused") in shard \(known.shard) at \(known.index)
                    """)
            }
            return
        }
        outcome[attempt] = (shard, result.index, wrote)
        guard let bucket = bucketOf[attempt], let range = range(of: shard, after: result.index - 1) else {
            return fail("attempt \(attempt) applied in shard \(shard), unknown to the simulation")
        }
        if wrote {
            if !range.contains(bucket) {
                fail("shard \(shard) applied attempt \(attempt) (bucket \(bucket)) at \(result.index) outside its range \(range)")
            }
            if let request = requestOf[attempt] {
                if let other = writtenBy[request] {
                    fail("request \(request) written twice: attempts \(other) and \(attempt)")
                }
                writtenBy[request] = attempt
            }
        } else {
            guard case .shardMismatch? = result.refusal else {
                return fail("attempt \(attempt) refused in shard \(shard) at \(result.index): \(String(describing: result.refusal))")
            }
            if range.contains(bucket) {
                fail("shard \(shard) refused attempt \(attempt) (bucket \(bucket)) at \(result.index) inside its range \(range)")
            }
        }
    }

    /// After a save: the group's documents on `node` at its applied index, and its descriptor.
    func state(_ digest: UInt64, shard: Int, applied: UInt64, descriptor: ShardDescriptor, node: NodeID) {
        let range = range(of: shard, after: applied)
        if descriptor.buckets != range || descriptor.id != shard {
            fail("node \(node) shard \(shard) at \(applied): descriptor \(descriptor), the applied splits give \(String(describing: range))")
        }
        if let known = stateAt[shard, default: [:]][applied] {
            if known.digest != digest {
                fail("shard \(shard): the documents of range \(String(describing: range)) differ at applied index \(applied) between nodes \(known.node) and \(node)")
            }
        } else {
            stateAt[shard, default: [:]][applied] = (digest, node)
        }
    }

    private func digest(_ bytes: [UInt8]) -> UInt64 { Bucket.fnv1a64(bytes) }
}
