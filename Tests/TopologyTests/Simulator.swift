import Topology
import XCTest

/// A fake shard group plus controller: members with Raft membership and priority, one leader,
/// and the planner's map. Actions take effect instantly; the controller executes the first
/// feasible action of each plan, like the real one.
struct Simulator {
    struct Member {
        var id: String
        var level: Int
        var membership: Membership
        var priority: Int
        var caughtUp: Bool
        var alive = true
        var downFor: UInt64 = 0
        var leaving = false
    }

    var members: [Member]
    var leader: String?
    var map: ClusterMap
    var policy: TopologyPolicy
    /// Every action the controller executed, in order.
    var executed: [Action] = []

    /// Mach I: the founder n1 alone, with `ClusterMap.initial`.
    init(founderLevel: Int = 2, policy: TopologyPolicy = TopologyPolicy()) {
        members = [Member(id: "n1", level: founderLevel, membership: .voter, priority: 1, caughtUp: true)]
        leader = "n1"
        map = .initial(founder: "n1", url: "http://n1:7000", level: founderLevel)
        self.policy = policy
    }

    var observations: [Observation] {
        members.map { member in
            Observation(
                id: member.id, url: "http://\(member.id):7000", level: member.level, alive: member.alive,
                downForMilliseconds: member.alive ? 0 : member.downFor, membership: member.membership,
                priority: member.priority, caughtUp: member.caughtUp || member.id == leader,
                isLeader: member.id == leader, leaving: member.leaving)
        }
    }

    func member(_ id: String) -> Member? { members.first { $0.id == id } }

    func index(_ id: String) -> Int? { members.firstIndex { $0.id == id } }

    // MARK: Events

    /// A node joins as a learner with priority 0, not caught up (needs a leader to add it).
    mutating func join(_ id: String, level: Int = 2) {
        members.append(Member(id: id, level: level, membership: .learner, priority: 0, caughtUp: false))
    }

    /// The node stops answering; a new leader is elected if it led.
    mutating func fail(_ id: String) {
        guard let index = index(id) else { return }
        members[index].alive = false
        members[index].downFor = 1
        members[index].caughtUp = false
        if leader == id { leader = nil; elect() }
    }

    mutating func recover(_ id: String) {
        guard let index = index(id) else { return }
        members[index].alive = true
        members[index].downFor = 0
    }

    mutating func leave(_ id: String) {
        guard let index = index(id) else { return }
        members[index].leaving = true
    }

    /// Time passes for the dead.
    mutating func elapse(_ milliseconds: UInt64) {
        for index in members.indices where !members[index].alive { members[index].downFor += milliseconds }
    }

    /// Every alive member catches up.
    mutating func catchUp() {
        for index in members.indices where members[index].alive { members[index].caughtUp = true }
    }

    /// Raft election without a leader: needs a live majority of voters; prefers priority >= 1,
    /// not leaving, higher level, then the oldest member.
    mutating func elect() {
        guard leader == nil else { return }
        let voters = members.filter { $0.membership == .voter }
        let alive = voters.enumerated().filter { $0.element.alive }
        guard !voters.isEmpty, alive.count >= voters.count / 2 + 1 else { return }
        leader = alive.min { a, b in
            let ka = (a.element.priority >= 1 ? 0 : 1, a.element.leaving ? 1 : 0, -a.element.level, a.offset)
            let kb = (b.element.priority >= 1 ? 0 : 1, b.element.leaving ? 1 : 0, -b.element.level, b.offset)
            return ka < kb
        }?.element.id
    }

    // MARK: Controller

    /// Executes `action` if it is feasible now; returns whether it was.
    mutating func apply(_ action: Action) -> Bool {
        guard leader != nil else { return false }
        switch action {
        case let .promote(id):
            guard let index = index(id), members[index].alive, members[index].membership == .learner else { return false }
            members[index].membership = .voter
        case let .setPriority(id, priority):
            guard let index = index(id), members[index].alive else { return false }
            members[index].priority = priority
        case let .transferLeadership(to: id):
            guard let target = member(id), target.alive, target.membership == .voter else { return false }
            leader = id
        case let .remove(id):
            guard let index = index(id), id != leader else { return false }
            members.remove(at: index)
        }
        executed.append(action)
        return true
    }

    /// Plans once (invariants checked) and adopts the new map, without executing anything.
    @discardableResult
    mutating func plan(file: StaticString = #filePath, line: UInt = #line) -> Plan {
        let plan = planChecked(map, observations, policy: policy, file: file, line: line)
        map = plan.map
        return plan
    }

    /// Plans and executes the first feasible action; returns whether anything changed.
    @discardableResult
    mutating func step(file: StaticString = #filePath, line: UInt = #line) -> Bool {
        elect()
        let before = map.version
        let plan = plan(file: file, line: line)
        let acted = plan.actions.contains { apply($0) }
        return acted || plan.map.version != before
    }

    /// Steps until nothing changes; with `catchUp`, every alive member catches up before each step.
    mutating func converge(catchUp: Bool = true, file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<100 {
            if catchUp { self.catchUp() }
            if !step(file: file, line: line) { return }
        }
        XCTFail("did not converge: \(map.json.text)", file: file, line: line)
    }

    /// Builds Mach `stage` by sequential joins n2...n<stage> (each converged before and after
    /// catching up).
    static func stage(_ stage: Int, levels: [Int] = [], policy: TopologyPolicy = TopologyPolicy()) -> Simulator {
        var sim = Simulator(founderLevel: levels.first ?? 2, policy: policy)
        sim.converge()
        for number in stride(from: 2, through: stage, by: 1) {
            sim.join("n\(number)", level: number <= levels.count ? levels[number - 1] : 2)
            sim.converge(catchUp: false)
            sim.converge()
        }
        return sim
    }

    // MARK: Views

    func roles(_ id: String) -> [NodeRole]? { map.node(id)?.roles }

    /// Non-writer nodes with the replica role, in join order.
    var readReplicas: [String] { map.nodes(with: .replica).map(\.id).filter { $0 != map.shards[0].writer } }

    var writer: String? { map.shards[0].writer }

    var primaryLoadManager: String? { map.primaryLoadManager?.id }

    func recommendations(_ kind: RecommendationKind, target: String? = nil) -> [Recommendation] {
        map.recommendations.filter { $0.kind == kind && (target == nil || $0.target == target) }
    }
}
