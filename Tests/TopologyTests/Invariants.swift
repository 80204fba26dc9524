import Topology
import XCTest

/// Plans, checks every invariant, and checks that re-planning the output with the same
/// observations is a fixed point (same map, same actions). Every test plans through this.
@discardableResult
func planChecked(
    _ map: ClusterMap, _ observations: [Observation], policy: TopologyPolicy = TopologyPolicy(),
    workload: Workload = Workload(), file: StaticString = #filePath, line: UInt = #line
) -> Plan {
    let plan = Planner.plan(map: map, observations: observations, workload: workload, policy: policy)
    checkInvariants(plan, observations, policy, previous: map, file: file, line: line)
    let again = Planner.plan(map: plan.map, observations: observations, workload: workload, policy: policy)
    XCTAssertEqual(again.map, plan.map, "re-planning changed the map", file: file, line: line)
    XCTAssertEqual(again.actions, plan.actions, "re-planning changed the actions", file: file, line: line)
    return plan
}

/// The planner's safety and shape invariants for one plan made from `previous`.
func checkInvariants(
    _ plan: Plan, _ observations: [Observation], _ policy: TopologyPolicy, previous: ClusterMap,
    file: StaticString = #filePath, line: UInt = #line
) {
    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { XCTFail(message() + "\nmap: \(plan.map.json.text)\nactions: \(plan.actions)", file: file, line: line) }
    }
    let map = plan.map
    check(map.version == previous.version || map.version == previous.version + 1, "version jumped")
    guard !observations.isEmpty else {
        check(map == previous && plan.actions.isEmpty, "no observations must change nothing")
        return
    }
    var seen: Set<String> = []
    let observed = observations.filter { seen.insert($0.id).inserted }
    let byID = Dictionary(uniqueKeysWithValues: observed.map { ($0.id, $0) })
    let leader = observed.first { $0.isLeader && $0.alive }

    // Shape of the map.
    check(Set(map.nodes.map(\.id)) == Set(byID.keys) && map.nodes.count == byID.count, "nodes != observed members")
    check(zip(map.nodes, map.nodes.dropFirst()).allSatisfy { $0.joinOrder < $1.joinOrder }, "nodes not sorted by joinOrder")
    check(map.nodes.allSatisfy { $0.joinOrder < map.nextJoinOrder }, "joinOrder >= nextJoinOrder")
    check(map.nodes.allSatisfy { $0.roles == NodeRole.canonical($0.roles) }, "roles not canonical")
    check(map.stage == map.nodes.count { $0.state == .active }, "stage")
    check(!map.shards.isEmpty && map.shards[0].firstBucket <= map.shards[0].lastBucket, "shard entry")
    check(map.recommendations.count <= policy.recommendationHistory, "recommendations unbounded")
    check(zip(map.recommendations, map.recommendations.dropFirst()).allSatisfy { $0.seq < $1.seq }, "seq order")
    check(map.recommendations.allSatisfy { $0.seq < map.nextRecommendationSeq }, "seq >= nextRecommendationSeq")
    for recommendation in map.recommendations where recommendation.seq >= previous.nextRecommendationSeq {
        check(recommendation.mapVersion == map.version && map.version == previous.version + 1, "new recommendation version")
    }

    // Writer.
    let shard = map.shards[0]
    let writers = map.nodes(with: .writer)
    check(writers.count <= 1, "more than one writer")
    check(writers.map(\.id) == (shard.writer.map { [$0] } ?? []), "writer role != shard writer")
    if let leader { check(shard.writer == leader.id, "writer is not the observed leader") }
    check(shard.voters == observed.filter { $0.membership == .voter }.map(\.id).sorted(), "shard voters")
    check(shard.learners == observed.filter { $0.membership == .learner }.map(\.id).sorted(), "shard learners")

    // Roles by state.
    for node in map.nodes where node.state != .active {
        if node.id == shard.writer {
            check(node.state == .leaving && node.has(.writer), "a failed node is writer: \(node.id)")
        } else {
            check(node.roles.isEmpty && !node.primaryLoadManager, "\(node.state) node \(node.id) has a role")
        }
    }
    for node in map.nodes(with: .replica) where node.id != shard.writer {
        let seen = byID[node.id]!
        check(node.state == .active && seen.alive && seen.caughtUp && seen.membership == .voter,
              "replica \(node.id) is not an alive caught-up voter")
    }
    let readReplicas = map.nodes(with: .replica).filter { $0.id != shard.writer }
    check(readReplicas.count <= policy.maxReplicas, "too many Read Replicas")
    if let writer = writers.first, readReplicas.isEmpty { check(writer.has(.replica), "no reader at all") }

    // Load Managers.
    let primaries = map.nodes.filter(\.primaryLoadManager)
    let activeNonWriters = map.nodes.filter { $0.state == .active && $0.id != shard.writer }
    if map.stage > 0 { check(primaries.count == 1, "expected exactly one primary LM, got \(primaries.map(\.id))") }
    check(primaries.count <= 1, "several primary LMs")
    for primary in primaries {
        check(primary.has(.loadManager), "primary LM lacks the role")
        if primary.id == shard.writer { check(activeNonWriters.isEmpty, "writer is primary LM beside other nodes") }
        else { check(primary.id == activeNonWriters.last?.id, "primary LM is not the newest active non-writer") }
    }

    // Actions.
    var voters = Set(observed.filter { $0.membership == .voter }.map(\.id))
    var aliveVoters = Set(observed.filter { $0.membership == .voter && $0.alive }.map(\.id))
    var promotions = 0
    let initialVoters = voters.count
    check(Set(plan.actions.map { "\($0)" }).count == plan.actions.count, "duplicate actions")
    for action in plan.actions {
        switch action {
        case let .remove(id):
            guard let seen = byID[id] else { check(false, "remove of unknown \(id)"); continue }
            check(!seen.isLeader, "remove of the leader \(id)")
            check(!(seen.alive && id == shard.writer), "remove of the live writer \(id)")
            if voters.contains(id) {
                check(!seen.alive || seen.leaving, "remove of a live voter that is not leaving: \(id)")
                voters.remove(id)
                aliveVoters.remove(id)
                check(!voters.isEmpty && aliveVoters.count >= voters.count / 2 + 1, "remove of \(id) loses the majority")
            }
        case let .promote(id):
            guard let seen = byID[id] else { check(false, "promote of unknown \(id)"); continue }
            check(seen.membership == .learner && seen.alive && seen.caughtUp && !seen.leaving, "bad promote of \(id)")
            promotions += 1
            check(initialVoters + promotions <= policy.maxVoters, "promotions exceed max_voters")
        case let .setPriority(id, priority):
            check(byID[id]?.alive == true && (priority == 0 || priority == 1), "bad setPriority \(id) \(priority)")
        case let .transferLeadership(to: id):
            check(leader != nil && leader?.id != id, "transfer without a leader or to itself")
            check(byID[id]?.alive == true && byID[id]?.membership == .voter, "transfer to a non-voter or dead node \(id)")
        }
    }
}
