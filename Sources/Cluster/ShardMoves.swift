import Curl
import Foundation
import JSON
import PeerTransport
import Replica
import Sharding
import Storage
import Sync
import Synchronization
import Topology

/// What a shard's leader last told the meta shard's leader about its group: the node that
/// writes the map may hold no replica of a moved shard (docs/ARCHITECTURE.md, "Moving a shard").
public struct ShardReport: Sendable, Equatable {
    public var shard: ShardDescriptor
    public var term: UInt64
    public var leader: String
    public var voters: [String]
    public var learners: [String]

    public init(shard: ShardDescriptor, term: UInt64, leader: String, voters: [String], learners: [String]) {
        self.shard = shard
        self.term = term
        self.leader = leader
        self.voters = voters.sorted()
        self.learners = learners.sorted()
    }

    public var json: JSON {
        .object([
            ("id", .int(shard.id)), ("buckets", .array([.int(shard.firstBucket), .int(shard.lastBucket)])),
            ("version", .int(shard.version)), ("term", .int(term)), ("leader", .string(leader)),
            ("voters", .array(voters.map(JSON.string))), ("learners", .array(learners.map(JSON.string))),
        ])
    }

    public init?(json: JSON, shard id: Int) {
        guard json["id"]?.intValue == Int64(id), let buckets = json["buckets"]?.elements, buckets.count == 2,
              let first = buckets[0].intValue.flatMap({ Int(exactly: $0) }), let last = buckets[1].intValue.flatMap({ Int(exactly: $0) }),
              Bucket.range.contains(first), Bucket.range.contains(last), first <= last,
              let version = json["version"]?.intValue, version > 0, let term = json["term"]?.intValue, term >= 0,
              let leader = json["leader"]?.stringValue,
              let voters = json["voters"]?.elements.compactMap(\.stringValue), !voters.isEmpty,
              let learners = json["learners"]?.elements.compactMap(\.stringValue) else { return nil }
        self.init(shard: ShardDescriptor(id: id, firstBucket: first, lastBucket: last, version: UInt64(version)),
                  term: UInt64(term), leader: leader, voters: voters, learners: learners)
    }

    /// The map entry this report describes (placement left to the caller).
    var entry: ShardEntry {
        ShardEntry(id: shard.id, firstBucket: shard.firstBucket, lastBucket: shard.lastBucket, writer: leader,
                   voters: voters, learners: learners, version: shard.version)
    }
}

/// The reports the meta shard's leader keeps, the newest per shard (by range version, then
/// term); at most one per shard, and shards are at most 1,000.
final class ShardReports: Sendable {
    private let state = Mutex<[Int: ShardReport]>([:])

    func record(_ report: ShardReport) {
        state.withLock { reports in
            if let known = reports[report.shard.id],
               (known.shard.version, known.term) > (report.shard.version, report.term) { return }
            reports[report.shard.id] = report
        }
    }

    var all: [Int: ShardReport] { state.withLock { $0 } }
}

extension TopologyController {
    // MARK: Moves (leader of the meta shard)

    /// Records a move of `shard` to `placement` (leader only): the next round writes it into
    /// the map, and the shard's leader then walks its membership there one step at a time.
    public func requestMove(_ shard: Int, to placement: ShardPlacement) {
        moveRequests.withLock { $0[shard] = placement }
        nudge()
    }

    /// A shard leader's report (see `ShardReport`), kept while this node leads the meta shard.
    public func record(_ report: ShardReport) {
        reports.record(report)
    }

    /// The map's shard list: every shard with its range and version as this node applied
    /// them, its Writer, voters and learners as its replica here sees them — or, for a shard
    /// this node does not lead, as its leader last reported (a moved shard may have no replica
    /// here); shards neither known here nor reported keep their entry. Placements carry over
    /// a split of a shard that finished moving and are cancelled by a split during a move;
    /// requested moves are written in.
    func shardEntries(primary: ShardEntry?, previous: [ShardEntry]) -> [ShardEntry] {
        let table = store.shardTable
        let reported = reports.all
        var local: [ShardEntry] = []
        for descriptor in table.sorted where descriptor.isInitialized {
            var entry: ShardEntry
            if descriptor.id == 1, let primary {
                entry = primary
            } else {
                let status = cluster.replica(shard: descriptor.id)?.status
                let members = status?.members ?? []
                entry = ShardEntry(id: descriptor.id, firstBucket: 0, lastBucket: 0, writer: status?.leaderID,
                                   voters: members.filter(\.isVoter).map(\.id).sorted(),
                                   learners: members.filter(\.isLearner).map(\.id).sorted())
                if let report = reported[descriptor.id], status?.isLeader != true, report.shard.version >= descriptor.version {
                    entry = report.entry  // its leader knows the group better than a follower here
                }
            }
            if entry.version < descriptor.version || descriptor.id == 1 || entry.firstBucket == 0 {
                entry.firstBucket = descriptor.firstBucket
                entry.lastBucket = descriptor.lastBucket
                entry.version = descriptor.version
            }
            local.append(entry)
        }
        let requests = moveRequests.withLock { $0 }
        let composed = ShardList.compose(local: local, reported: reported.values.map(\.entry), previous: previous, requests: requests)
        for id in composed.cancelled {
            logger.warning("a split cancelled a shard's move", metadata: ["shard": "\(id)"])
        }
        for id in composed.stale {
            logger.warning("move request dropped: the shard split meanwhile", metadata: ["shard": "\(id)"])
            _ = moveRequests.withLock { $0.removeValue(forKey: id) }
        }
        return composed.shards
    }

    /// Forgets the move requests the published map now carries.
    func movesPublished(_ map: ClusterMap) {
        moveRequests.withLock { requests in
            requests = requests.filter { id, wanted in map.shards.first { $0.id == id }?.placement != wanted }
        }
    }

    // MARK: Every node

    /// Reports each shard this node leads (other than 1) to the meta shard's leader when the
    /// map says something else about it, and every 5 s regardless (a new meta leader starts
    /// without reports).
    func reportShards() {
        guard let meta = cluster.replica else { return }
        let metaStatus = meta.status
        let me = cluster.configuration.replica.nodeID
        let now = monotonicNanoseconds()
        for replica in cluster.replicas where replica.configuration.shard != 1 {
            let shard = replica.configuration.shard
            let status = replica.status
            guard status.isLeader, let descriptor = store.shardTable[shard], descriptor.isInitialized else { continue }
            let report = ShardReport(shard: descriptor, term: status.term, leader: me,
                                     voters: status.members.filter(\.isVoter).map(\.id),
                                     learners: status.members.filter(\.isLearner).map(\.id))
            if metaStatus.isLeader {
                record(report)
                continue
            }
            let listed = cluster.maps.replicated?.shards.first { $0.id == shard }
            let agrees = listed.map {
                $0.writer == me && $0.voters == report.voters && $0.learners == report.learners && $0.version == descriptor.version
                    && $0.firstBucket == descriptor.firstBucket && $0.lastBucket == descriptor.lastBucket
            } ?? false
            let last = lastReports.withLock { $0[shard] }
            if let last, now - last.at < (agrees || last.report == report ? 5_000_000_000 : 500_000_000) { continue }
            guard let url = metaStatus.leaderURL else { continue }
            var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
            if let auth = InternalAuth.headerValue(clusterToken: cluster.configuration.clusterToken) { headers.append(("Authorization", auth)) }
            guard let client = try? HTTPClient() else { return }
            let request = ClientRequest(method: "POST", url: url + "/internal/v1/shards/\(shard)/report", headers: headers,
                                        body: report.json.encoded(), timeoutMilliseconds: 1_000)
            if let answer = try? client.perform(request), answer.status == 204 {
                lastReports.withLock { $0[shard] = (now, report) }
            }
        }
    }

    /// Drops this node's replica of every shard moved away from it: the map places the shard
    /// elsewhere and its leader (in the placement) reports a configuration without this node.
    func dropMovedShards() {
        guard let map = cluster.maps.replicated else { return }
        let me = cluster.configuration.replica.nodeID
        for replica in cluster.replicas where replica.configuration.shard != 1 {
            let shard = replica.configuration.shard
            guard let entry = map.shards.first(where: { $0.id == shard }), let placement = entry.placement,
                  placement.version == entry.version, !placement.nodes.contains(me),
                  let writer = entry.writer, writer != me, placement.nodes.contains(writer),
                  !(entry.voters + entry.learners).contains(me), !replica.status.isLeader else { continue }
            logger.info("shard moved to other nodes: dropping its replica here", metadata: [
                "shard": "\(shard)", "placement": "\(placement.nodes)", "writer": "\(writer)",
            ])
            cluster.dropGroup(shard: shard)
        }
    }
}
