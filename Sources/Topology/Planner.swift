/// The Mach-stage planner (DESIGN §4): a pure function from the current map, the observed Raft
/// members, the workload and the policy to the next map and the Raft actions that move the
/// cluster toward it.
///
/// The controller runs it on the shard-1 Raft leader, replicates `Plan.map` when its version
/// changed, and executes the first feasible action of `Plan.actions` (one membership change at a
/// time), then plans again. The same inputs always give the same plan; a plan re-run on its own
/// output map with the same observations changes nothing and records nothing new.
///
/// Rules, in the order they apply:
/// 1. Membership: an observed id missing from the map enters it (next `joinOrder`, in observation
///    order); a map node not observed is dropped; url and level follow the observation (level
///    clamped to 1...5). Duplicate observations of one id: the first wins.
/// 2. State: leaving > alive (active) > failed. Active or leaving -> failed records one
///    `replace_node`; a node that enters already failed records none; failed -> alive is silent.
/// 3. Writer: the alive observed leader; without one, the previous writer while it is in the map
///    and not failed; else nil.
/// 4. Roles: primary LM = newest active non-writer (or the writer when there is none); Read
///    Replicas = oldest active caught-up voters other than the primary LM, up to `maxReplicas`;
///    the rest of the active non-writers are secondary LMs when the replica slots are full, else
///    roleless (catching up). No Read Replica -> the writer also has `replica`.
/// 5. Actions, in this order: graceful leave (transfer away from a leaving leader, else remove
///    the leaving node), removal of nodes down >= `removeAfterMilliseconds`, priorities (0 for an
///    LM-only node except the designated bigger writer, 1 otherwise), promotions (none while at
///    most 2 nodes are active; the bigger writer first; then Read Replica candidates by join order,
///    then the primary LM; never beyond `maxVoters`), then the transfer to the bigger writer.
///    Every `remove` passes the quorum guard; nothing is ever demoted or added.
/// 6. Recommendations: `replace_node` (rule 2), and `split_shard` (target "shard <id>") for each
///    node entering while `2 + maxReplicas` or more nodes are already active; oldest dropped
///    beyond `recommendationHistory`.
/// 7. Shard: the first shard entry (created as shard 1, buckets 1...1000, if the map has none)
///    gets the writer and the observed voters/learners, sorted; other entries are left alone.
/// 8. Version: +1 iff anything else changed; new recommendations carry the new version.
///
/// Choices where the brief left a corner open (the safe side):
/// - A leaving writer keeps acting as writer (and as the fallback replica/LM) until leadership has
///   moved: it is still the Raft leader, the only node that can accept writes. Every other leaving
///   or failed node holds no role and is not the primary LM.
/// - A leaving leader with no voter to hand over to (Mach II) first gets the best alive caught-up
///   learner promoted (within `maxVoters`), even though Mach II otherwise never promotes.
/// - Transfers (leave, bigger writer) are emitted only when an alive leader is observed; a
///   transfer to the bigger writer is not emitted while the leader is leaving.
/// - The designated bigger writer is promoted when voters < `maxVoters` and >= 2 nodes are active.
/// - Leaving nodes get no `setPriority` (they are about to go); dead nodes cannot take one.
/// - Removals are checked cumulatively (each as if the earlier ones succeeded); promotions count
///   only the observed voters plus earlier promotions, never pending removals.
/// - With no observations (not the leader) the map is returned unchanged with no actions.
/// - `workload` is not used yet (DESIGN §6 split-versus-bigger-leader choice is the operator's).
///
/// `policy` must have passed `validate()`; out-of-range values are clamped, never trapped on.
public enum Planner {
    /// Plans one step; see the type's documentation for the rules.
    public static func plan(
        map: ClusterMap, observations: [Observation], workload: Workload, policy: TopologyPolicy
    ) -> Plan {
        guard !observations.isEmpty else { return Plan(map: map, actions: []) }
        var round = Round(map: map, observations: observations, policy: policy)
        round.syncMembership()
        round.assignRoles()
        let actions = round.actions()
        return Plan(map: round.finish(), actions: actions)
    }
}

/// One planning pass: the working copy of the map plus what the observations say.
struct Round {
    let previous: ClusterMap
    /// Observations in input order, one per id.
    let observations: [Observation]
    let observed: [String: Observation]
    let maxVoters: Int
    let maxReplicas: Int
    let removeAfter: UInt64
    let history: Int

    var nodes: [MapNode]
    var nextJoinOrder: UInt64
    /// Recommendations made in this round; seq, stage and version are filled in by `finish()`.
    var made: [(kind: RecommendationKind, target: String?, reason: String)] = []
    var writer: String?
    var primaryLoadManager: String?
    var replicas: [String] = []

    init(map: ClusterMap, observations: [Observation], policy: TopologyPolicy) {
        previous = map
        var seen: Set<String> = []
        self.observations = observations.filter { seen.insert($0.id).inserted }
        observed = Dictionary(uniqueKeysWithValues: self.observations.map { ($0.id, $0) })
        maxVoters = max(policy.maxVoters, 1)
        maxReplicas = min(max(policy.maxReplicas, 0), maxVoters)
        removeAfter = policy.removeAfterMilliseconds
        history = max(policy.recommendationHistory, 0)
        nodes = map.nodes
        nextJoinOrder = map.nextJoinOrder
    }

    /// The observation of a node the round holds (every node in `nodes` is observed).
    func observation(_ id: String) -> Observation { observed[id]! }

    /// The alive observed leader, if any.
    var leader: Observation? { observations.first { $0.isLeader && $0.alive } }

    var activeCount: Int { nodes.count { $0.state == .active } }

    /// Rules 6 to 8: fills in the shard, the recommendations and the version.
    func finish() -> ClusterMap {
        var next = previous
        next.nodes = nodes
        next.nextJoinOrder = nextJoinOrder
        if next.shards.isEmpty { next.shards = [.unsharded] }
        next.shards[0].writer = writer
        next.shards[0].voters = observations.filter { $0.membership == .voter }.map(\.id).sorted()
        next.shards[0].learners = observations.filter { $0.membership == .learner }.map(\.id).sorted()
        if next != previous || !made.isEmpty { next.version = previous.version + 1 }
        for recommendation in made {
            next.recommendations.append(
                Recommendation(
                    seq: next.nextRecommendationSeq, kind: recommendation.kind, target: recommendation.target,
                    reason: recommendation.reason, stage: next.stage, mapVersion: next.version))
            next.nextRecommendationSeq += 1
        }
        if next.recommendations.count > history {
            next.recommendations.removeFirst(next.recommendations.count - history)
        }
        return next
    }
}
