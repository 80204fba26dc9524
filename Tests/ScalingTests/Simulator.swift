import RaftCore
import Scaling

/// The traffic of one simulated second.
struct Load {
    var requestsPerSecond = 20
    /// Mean latency; requests spread evenly over ±10 % around it.
    var latency = 0.2
    /// Fractions of single reads and of queries; the rest are writes.
    var readFraction = 0.5
    var queryFraction = 0.0
    var timeoutFraction = 0.0
}

/// What the traffic generator may look at: seconds since the start, the cluster as the
/// simulator has changed it, and how many nodes it added.
struct Moment {
    let t: Int
    let facts: ClusterFacts
    let nodesAdded: Int
}

/// Feeds synthetic traffic into `LatencyWindows` one second at a time and calls
/// `ScalingPolicyEngine.evaluate` after every second, applying proposals to the facts.
struct Simulator {
    var policy: ScalingPolicy
    var facts: ClusterFacts
    var windows = LatencyWindows()
    var state = ScalingState()
    let start: UInt64
    private(set) var now: UInt64
    /// Apply proposals to `facts` (add/remove nodes, raise the leader level).
    var applyProposals = true

    private(set) var proposals: [(second: UInt64, proposal: Proposal)] = []
    private(set) var evaluations: [(second: UInt64, evaluation: Evaluation)] = []
    /// Surge episodes reported, and when.
    private(set) var surges: [(second: UInt64, episode: SurgeEpisode)] = []
    private(set) var nodesAdded = 0
    private(set) var splits = 0
    private var carry = (reads: 0.0, queries: 0.0, timeouts: 0.0)

    init(policy: ScalingPolicy, facts: ClusterFacts, start: UInt64 = 1_000_000) {
        self.policy = policy
        self.facts = facts
        self.start = start
        now = start
    }

    var kinds: [RecommendationKind] { proposals.map(\.proposal.kind) }
    var last: Evaluation? { evaluations.last?.evaluation }
    var surgingSeconds: [UInt64] { evaluations.filter(\.evaluation.surging).map(\.second) }

    /// Seconds since the start at which proposals of `kind` were made.
    func times(_ kind: RecommendationKind) -> [Int] {
        proposals.filter { $0.proposal.kind == kind }.map { Int($0.second - start) }
    }

    /// Simulates `seconds` seconds of `load`.
    mutating func run(_ seconds: Int, load: (Moment) -> Load) {
        for _ in 0..<seconds {
            let traffic = load(Moment(t: Int(now - start), facts: facts, nodesAdded: nodesAdded))
            feed(traffic)
            let evaluation = ScalingPolicyEngine.evaluate(
                windows: windows, now: now, facts: facts, state: state, policy: policy)
            state = evaluation.state
            evaluations.append((now, evaluation))
            surges += evaluation.surges.map { (now, $0) }
            for proposal in evaluation.proposals {
                proposals.append((now, proposal))
                if applyProposals { apply(proposal) }
            }
            now += 1
        }
    }

    /// Simulates `seconds` seconds of one constant load.
    mutating func run(_ seconds: Int, _ load: Load) { run(seconds) { _ in load } }

    private mutating func feed(_ load: Load) {
        let n = load.requestsPerSecond
        guard n > 0 else { return }
        func take(_ carry: inout Double, _ fraction: Double) -> Int {
            carry += Double(n) * fraction
            let whole = Int(carry.rounded(.down))
            carry -= Double(whole)
            return whole
        }
        let reads = min(n, take(&carry.reads, load.readFraction))
        let queries = min(n - reads, take(&carry.queries, load.queryFraction))
        let timeouts = min(n, take(&carry.timeouts, load.timeoutFraction))
        for i in 0..<n {
            let kind: RequestKind = i < reads ? .read : i < reads + queries ? .query : .write
            let latency = load.latency * (0.9 + 0.2 * (Double(i) + 0.5) / Double(n))
            windows.record(second: now, seconds: latency, kind: kind, timedOut: i < timeouts)
        }
    }

    private mutating func apply(_ proposal: Proposal) {
        switch proposal.kind {
        case .addNode:
            facts.stage += 1
            facts.readReplicas += 1
            nodesAdded += 1
        case .removeNode:
            facts.stage -= 1
            facts.readReplicas -= 1
        case .biggerLeader:
            facts.leaderLevel += 1
        case .splitShard:
            splits += 1
        case .replaceNode, .surge:
            break
        }
        facts.stageName = "Mach \(facts.stage)"
        facts.removableNode = "n\(facts.stage)"
    }
}

extension ClusterFacts {
    /// A cluster of `stage` live nodes whose newest node is the one a scale-in would remove.
    static func cluster(
        stage: Int, replicas: Int, maxReplicas: Int = 4, level: Int = 2, lagging: Bool = false, splitAt: Int? = 501
    ) -> ClusterFacts {
        ClusterFacts(
            stage: stage, stageName: "Mach \(stage)", readReplicas: replicas, maxReplicas: maxReplicas,
            leaderLevel: level, anyReplicaLagging: lagging, removableNode: "n\(stage)",
            joinURL: "http://n1.test:7000", splitAt: splitAt)
    }
}

extension ScalingPolicy {
    /// The design's policy scaled down from minutes to seconds, for short simulations.
    static var tiny: ScalingPolicy {
        var policy = ScalingPolicy()
        policy.upAverageWindowSeconds = 60
        policy.upTimeoutWindowSeconds = 30
        policy.downAverageWindowSeconds = 60
        policy.sustainUpSeconds = 10
        policy.sustainDownSeconds = 30
        policy.cooldownSeconds = 60
        policy.downCooldownSeconds = 120
        policy.surgeWindowSeconds = 10
        return policy
    }
}
