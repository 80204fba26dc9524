import Curl
import Foundation
import JSON
import PeerTransport
import Logging
import RaftCore
import Replica
import Storage
import Sync
import Synchronization
import Topology

/// Runs the topology planner on the meta shard's leader and applies its output through Raft
/// (DESIGN §4, §5).
///
/// Every `intervalMilliseconds`, on the leader only, once it has committed an entry of its
/// term and applied its whole log (so the stored map is the latest): observes every member
/// (liveness from the leader's last contact, membership, priority, catch-up), calls
/// `Planner.plan`, replicates the new map if its version moved (a compare-and-set entry, so a
/// deposed leader cannot overwrite a newer map), then executes the plan's actions in order
/// until one is accepted (Raft takes one membership change at a time; the next round
/// re-plans from what happened). Followers do nothing: they apply the map from the log.
public final class TopologyController: Sendable {
    public let settings: TopologySettings
    let store: Store
    let cluster: ClusterController
    let logger: Logger
    /// Nodes an operator asked to leave, until the map records them as leaving.
    private let leaveRequests = Mutex<Set<String>>([])
    private let stopped = Atomic<Bool>(false)
    private let wake = ConditionLock()
    private let finished = Atomic<Bool>(false)
    /// Set once this node learns that the group removed it (see `checkMembership`).
    public let removed = Atomic<Bool>(false)
    private let lastMembershipCheck = Atomic<UInt64>(0)
    /// Settings asked of this node while it leads the meta shard, until the map carries them,
    /// with the number of the last change folded in (changes are numbered from 1).
    private let settingsRequest = Mutex<(settings: ClusterSettings?, generation: UInt64)>((nil, 0))
    /// The number of the last change the applied map carries.
    private let settingsWritten = Atomic<UInt64>(0)
    /// The map's settings last compared with this node's own (see `noteSettings`).
    private let notedSettings = Mutex<ClusterSettings?>(nil)
    /// Moves asked of this node while it leads the meta shard, until the map carries them.
    let moveRequests = Mutex<[Int: ShardPlacement]>([:])
    /// Shard leaders' reports, while this node leads the meta shard (see `ShardReport`).
    let reports = ShardReports()
    /// The last report this node sent for each shard it leads, and when.
    let lastReports = Mutex<[Int: (at: UInt64, report: ShardReport)]>([:])

    init(settings: TopologySettings, store: Store, cluster: ClusterController, logger: Logger) {
        self.settings = settings
        self.store = store
        self.cluster = cluster
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                round()
                wake.withLock { _ = wake.wait(untilNanoseconds: monotonicNanoseconds() + UInt64(settings.intervalMilliseconds) * 1_000_000) }
            }
            finished.store(true, ordering: .relaxed)
        }
        thread.name = "topology"
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        wake.withLock { wake.broadcast() }
    }

    /// Runs a round now (a join or a leave request was accepted).
    public func nudge() { wake.withLock { wake.broadcast() } }

    /// Marks `node` as leaving: the next rounds move its roles away, hand leadership off if
    /// it leads, then remove it from the group. Leader only.
    public func requestLeave(_ node: String) {
        _ = leaveRequests.withLock { $0.insert(node) }
        nudge()
    }

    // MARK: One round

    /// Changes the cluster-wide settings: `change` applies to the settings as they will be —
    /// the last change asked and not yet in the map, else the map's — so concurrent changes
    /// of different fields all land; the next round writes the result into the map. Throws
    /// (and changes nothing) when `change` does. Leader only.
    /// Returns the change's number (see `settingsCarried`).
    public func requestSettings<E: Error>(_ change: (inout ClusterSettings) throws(E) -> Void) throws(E) -> UInt64 {
        let generation = try settingsRequest.withLock { (pending: inout (settings: ClusterSettings?, generation: UInt64)) throws(E) -> UInt64 in
            var next = pending.settings ?? cluster.settings
            try change(&next)
            pending.settings = next
            pending.generation += 1
            return pending.generation
        }
        nudge()
        return generation
    }

    /// Whether the applied map carries change number `generation` (and every one before it; a
    /// later change of the same field may have replaced its value).
    public func settingsCarried(_ generation: UInt64) -> Bool { settingsWritten.load(ordering: .acquiring) >= generation }

    private func round() {
        guard let replica = cluster.replica else { return }
        noteSettings()
        throttleSilentReplicas(leading: replica.status.isLeader)
        placeWriters()
        reportShards()
        dropMovedShards()
        let status = replica.status
        if !status.isLeader { return checkMembership(status) }
        guard status.committedInTerm, status.applied >= status.commit else { return }
        let storedVersion = store.clusterMap?.version ?? 0
        var stored = currentMap()
        // Leave requests enter the plan as leaving nodes (and so the map: a new leader keeps them).
        let requested = leaveRequests.withLock { $0 }
        var marked = false
        for i in stored.nodes.indices where requested.contains(stored.nodes[i].id) && stored.nodes[i].state != .leaving {
            stored.nodes[i].state = .leaving
            marked = true
        }
        let observations = observe(status, map: stored)
        let plan = Planner.plan(map: stored, observations: observations, workload: Workload(),
                                policy: cluster.settings.topologyPolicy(settings.policy))
        var map = plan.map
        let (shards, replaced) = ShardList.repaired(shardEntries(primary: map.shards.first, previous: stored.shards), nodes: map.nodes)
        for (shard, lost, by) in replaced {
            logger.warning(by == nil ? "a moved shard lost a node: no other can take its place, it lives on the rest"
                                     : "a moved shard lost a node: another takes its place",
                           metadata: ["shard": "\(shard)", "lost": "\(lost)", "by": "\(by ?? "-")"])
        }
        if shards != map.shards {
            map.shards = shards
            if map.version == stored.version { map.version += 1 }
        }
        // Cluster-wide settings: a change asked of this node, else — a map that has none yet
        // (the cluster just formed) — this node's own flags and policy seed them.
        let asked = settingsRequest.withLock { $0 }
        if let wanted = asked.settings ?? (map.settings == nil ? cluster.seedSettings : nil), map.settings != wanted {
            map.settings = wanted
            if map.version == stored.version { map.version += 1 }
        }
        if marked && map.version == stored.version { map.version += 1 }
        if map.version != storedVersion || marked {
            guard publish(map, replacing: storedVersion, via: replica) else { return }
            movesPublished(map)

            leaveRequests.withLock { $0.subtract(map.nodes.filter { $0.state == .leaving }.map(\.id)) }
            logger.info("cluster map", metadata: [
                "version": "\(map.version)", "stage": "\(map.stageName)",
                "roles": "\(map.nodes.map { "\($0.id):\($0.state == .active ? $0.roles.map(\.rawValue).joined(separator: "+") : $0.state.rawValue)" })",
            ])
        }
        // The asked settings are in the applied map now (published above, or already there).
        if asked.settings != nil, asked.settings == map.settings {
            settingsWritten.store(asked.generation, ordering: .releasing)
            settingsRequest.withLock { if $0.generation == asked.generation { $0.settings = nil } }
        }
        for action in plan.actions {
            if execute(action, via: replica, status: status) { break }
        }
    }

    /// Paces what this node sends to silent replicas (`ClusterMap.silentReplicas`,
    /// `CatchUpThrottle`), as its applied map says; logs when the set changes.
    private func throttleSilentReplicas(leading: Bool) {
        let settings = cluster.settings
        // No map applied yet: only the founder forming the cluster judges (from its own Mach I
        // map); a node that just joined knows too little and paces nobody.
        let members = store.members, map = cluster.maps.replicated ?? (leading ? cluster.maps.standalone : ClusterMap.empty)
        let joining = Dictionary(members.filter { map.node($0.id) == nil }.map { ($0.id, $0.level) }, uniquingKeysWith: { first, _ in first })
        let silent = map.silentReplicas(maxVoters: settings.maxVoters, joining: joining)
        let ids = Set(silent.compactMap { id in members.first { $0.id == id }?.raftID })
        let throttle = cluster.transport.catchUp
        let before = throttle.current
        throttle.set(silent: ids, known: Set(members.map(\.raftID)), bytesPerSecond: settings.silentReplicaBytesPerSecond)
        let after = throttle.current
        if before != after {
            logger.info("silent replica catch-up", metadata: [
                "throttled": "\(silent.sorted())", "bytes_per_second": "\(after.peers > 0 ? "\(after.bytesPerSecond)" : "unlimited")",
            ])
        }
    }

    /// Says once per change of the map's settings when this node's own flags or policy differ
    /// from them: the cluster's apply here (a node that joined with other flags).
    private func noteSettings() {
        guard let shared = cluster.maps.replicated?.settings else { return }
        let changed = notedSettings.withLock { noted in defer { noted = shared }; return noted != shared }
        let own = cluster.seedSettings
        guard changed, own.topologyJSON != shared.topologyJSON || (own.scalingPolicy != shared.scalingPolicy && own.scalingPolicy != .object([])) else { return }
        logger.notice("this node's flags or scaling policy differ from the cluster's settings: the cluster's apply", metadata: [
            "own": "\(own.topologyJSON.text)", "cluster": "\(shared.topologyJSON.text)",
        ])
    }

    /// Spreads the Writers of the shards this node leads (see `WriterPlacement`): one
    /// leadership transfer per round at most.
    private func placeWriters() {
        let replicas = cluster.replicas
        guard replicas.count > 1 else { return }
        var leaders: [Int: String] = [:]
        for replica in replicas { if let leader = replica.status.leaderID { leaders[replica.configuration.shard] = leader } }
        let timeout = UInt64(cluster.settings.failureTimeoutMilliseconds)
        for replica in replicas.dropFirst() where replica.status.isLeader {
            let status = replica.status
            // A moving shard's leadership is the move's to hand over; a moved one stays on its nodes.
            let entry = cluster.maps.replicated?.shards.first { $0.id == replica.configuration.shard }
            if entry?.moving == true { continue }
            let placed = entry?.placement.map { Set($0.nodes) }
            let candidates = status.members
                .filter { $0.isVoter && $0.priority > 0 && $0.caughtUp && ($0.sinceContactMilliseconds ?? 0) < timeout }
                .filter { placed?.contains($0.id) ?? true }
                .sorted { ($0.level, $0.match ?? 0) > ($1.level, $1.match ?? 0) }
                .map(\.id)
            if let target = WriterPlacement.target(shard: replica.configuration.shard, leaders: leaders, candidates: candidates) {
                logger.info("moving a shard's Writer", metadata: ["shard": "\(replica.configuration.shard)", "to": "\(target)"])
                replica.transferLeadership(to: target) { _ in }
                return
            }
        }
    }

    /// A follower that the group removed (it left, or was removed as dead) stops receiving the
    /// log, so its own map still lists it. Every 2 s it asks the node it last knew as leader
    /// (else any member of its map) for a newer map; one that no longer lists it, while its own
    /// did, means it is out: it says so in its log and `/readyz`, and stops serving.
    private func checkMembership(_ status: ReplicaStatus) {
        guard !removed.load(ordering: .relaxed) else { return }
        let now = monotonicNanoseconds()
        guard now - lastMembershipCheck.load(ordering: .relaxed) > 2_000_000_000 else { return }
        lastMembershipCheck.store(now, ordering: .relaxed)
        guard let mine = cluster.maps.replicated else { return }
        let me = cluster.configuration.replica.nodeID
        guard mine.node(me) != nil else { return }  // not in the map yet (joining): nothing to lose
        let peers = ([status.leaderURL].compactMap { $0 } + mine.nodes.filter { $0.id != me }.map(\.url))
        var headers: [(name: String, value: String)] = []
        if let auth = InternalAuth.headerValue(clusterToken: cluster.configuration.clusterToken) { headers.append(("Authorization", auth)) }
        guard let client = try? HTTPClient() else { return }
        for peer in peers.prefix(3) where peer != cluster.configuration.replica.url {
            let request = ClientRequest(url: peer + "/internal/v1/cluster-map?after=\(mine.version)&wait=0", headers: headers,
                                        timeoutMilliseconds: 1_000)
            guard let answer = try? client.perform(request) else { continue }
            if answer.status == 304 { return }  // no newer map: still in
            guard answer.status == 200, let fresh = try? ClusterMap(json: JSON.parse(answer.body)),
                  fresh.version > mine.version else { continue }
            if fresh.node(me) == nil {
                removed.store(true, ordering: .relaxed)
                logger.error("this node was removed from the cluster; it serves nothing now: stop it, or start it afresh with --join",
                             metadata: ["map_version": "\(fresh.version)"])
            }
            return
        }
    }

    /// The stored map, or a fresh one for a group that has none yet (just formed). A fresh
    /// map starts past version 1, the single node's own Mach I map, so watchers of that one
    /// see the change.
    public func currentMap() -> ClusterMap {
        guard let stored = store.clusterMap else { return ClusterMap.empty.with(version: 1) }
        do {
            return try ClusterMap(json: JSON.parse(stored.body))
        } catch {
            logger.error("stored cluster map does not decode; planning from scratch", metadata: ["error": "\(error)"])
            return ClusterMap.empty.with(version: stored.version)
        }
    }

    /// What the leader knows of every member, oldest first.
    func observe(_ status: ReplicaStatus, map: ClusterMap) -> [Observation] {
        let timeout = UInt64(cluster.settings.failureTimeoutMilliseconds)
        return status.members
            .sorted { ($0.joinedAtIndex, $0.id) < ($1.joinedAtIndex, $1.id) }
            .map { member in
                let isSelf = member.sinceContactMilliseconds == nil
                let silence = member.sinceContactMilliseconds ?? 0
                let alive = isSelf || silence < timeout
                return Observation(
                    id: member.id, url: member.url, level: member.level, alive: alive,
                    downForMilliseconds: alive ? 0 : silence,
                    membership: member.isVoter ? .voter : .learner, priority: member.priority,
                    caughtUp: member.caughtUp, isLeader: member.id == status.leaderID,
                    leaving: map.node(member.id)?.state == .leaving)
            }
    }

    private func publish(_ map: ClusterMap, replacing storedVersion: UInt64, via replica: Replica) -> Bool {
        let command = LogCommand.setClusterMap(expectedVersion: storedVersion, version: map.version,
                                               body: map.json.encoded())
        let outcome = wait { done in replica.proposeControl(command) { done($0.map { _ in () }) } }
        if case let .failure(error) = outcome {
            logger.warning("cluster map not replicated", metadata: ["version": "\(map.version)", "error": "\(error)"])
            return false
        }
        return store.clusterMap?.version == map.version
    }

    /// Executes one action; true when Raft accepted it.
    private func execute(_ action: Action, via replica: Replica, status: ReplicaStatus) -> Bool {
        func member(_ id: String) -> ReplicaStatus.MemberStatus? { status.members.first { $0.id == id } }
        let outcome: Result<Void, ReplicaError>
        switch action {
        case let .promote(id):
            guard let m = member(id) else { return false }
            outcome = wait { done in replica.changeMembership(.promote(m.raftID), completion: done) }
        case let .setPriority(id, priority):
            guard let m = member(id) else { return false }
            let attributes = NodeAttributes(level: UInt8(clamping: m.level), priority: UInt8(clamping: priority), autoPromote: false)
            outcome = wait { done in replica.changeMembership(.updateAttributes(m.raftID, attributes), completion: done) }
        case let .transferLeadership(to):
            outcome = wait { done in replica.transferLeadership(to: to, completion: done) }
        case let .remove(id):
            guard let m = member(id) else { return false }
            outcome = wait { done in replica.changeMembership(.remove(m.raftID), completion: done) }
        }
        switch outcome {
        case .success:
            logger.info("topology action applied", metadata: ["action": "\(action)"])
            return true
        case let .failure(error):
            logger.debug("topology action not taken", metadata: ["action": "\(action)", "error": "\(error)"])
            return false
        }
    }

    /// Runs `start` and blocks this (controller) thread until it completes, at most 15 s.
    private func wait(_ start: (@escaping @Sendable (Result<Void, ReplicaError>) -> Void) -> Void) -> Result<Void, ReplicaError> {
        let box = ResultBox()
        start { result in box.set(result) }
        return box.get(timeoutNanoseconds: 15_000_000_000) ?? .failure(.timeout)
    }
}

/// Settings of the topology controller (`--failure-timeout`, `--remove-after`, ...).
public struct TopologySettings: Sendable {
    /// Planner policy: voter cap, replica cap, removal grace.
    public var policy = TopologyPolicy()
    /// A member the leader has not heard from for this long is failed.
    public var failureTimeoutMilliseconds = 3_000
    /// How often the leader re-plans.
    public var intervalMilliseconds = 250
    /// Bytes per second a Load Manager's silent replica catches up at; 0: unlimited.
    public var silentReplicaBytesPerSecond = ClusterSettings.defaultSilentReplicaBytesPerSecond

    public init() {}

    public func validate() throws(ClusterError) {
        do {
            try policy.validate()
        } catch {
            throw ClusterError(message: "\(error)")
        }
        guard failureTimeoutMilliseconds >= 200 else { throw ClusterError(message: "failure timeout must be at least 200 ms") }
        guard (10...60_000).contains(intervalMilliseconds) else { throw ClusterError(message: "topology interval must be 10...60000 ms") }
    }
}

/// One result handed from a completion to a waiting thread.
final class ResultBox: Sendable {
    private let lock = ConditionLock()
    private let value = Mutex<Result<Void, ReplicaError>?>(nil)

    func set(_ result: Result<Void, ReplicaError>) {
        value.withLock { $0 = result }
        lock.withLock { lock.broadcast() }
    }

    func get(timeoutNanoseconds: UInt64) -> Result<Void, ReplicaError>? {
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        return lock.withLock {
            while true {
                if let result = value.withLock({ $0 }) { return result }
                if monotonicNanoseconds() >= deadline { return nil }
                _ = lock.wait(untilNanoseconds: min(deadline, monotonicNanoseconds() + 50_000_000))
            }
        }
    }
}

extension ClusterMap {
    func with(version: UInt64) -> ClusterMap {
        var copy = self
        copy.version = version
        return copy
    }
}
