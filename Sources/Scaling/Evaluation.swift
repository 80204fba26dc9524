import JSON

/// The outcome of one `ScalingPolicyEngine.evaluate` call.
public struct Evaluation: Sendable, Equatable {
    /// Pass this into the next call.
    public var state: ScalingState
    /// Zero or one recommendation to hand to the outbox now.
    public var proposals: [Proposal]
    /// Zero or one surge episode that is over and reported now: hand it to the outbox as an
    /// informational `surge` (it starts no cooldown).
    public var surges: [SurgeEpisode]
    /// A surge is under way (reported as `surge`; scale-up and scale-in are held).
    public var surging: Bool
    public var workload: WorkloadClass
    /// The up condition holds now (thresholds crossed with enough requests, surge or not).
    public var up: Bool
    /// The down condition holds now.
    public var down: Bool

    public init(
        state: ScalingState, proposals: [Proposal], surges: [SurgeEpisode] = [], surging: Bool, workload: WorkloadClass,
        up: Bool, down: Bool
    ) {
        self.state = state
        self.proposals = proposals
        self.surges = surges
        self.surging = surging
        self.workload = workload
        self.up = up
        self.down = down
    }

    /// `{surging, workload, up, down, proposals, surges, state}` for the admin view.
    public var json: JSON {
        .object([
            ("surging", .bool(surging)),
            ("workload", .string(workload.rawValue)),
            ("up", .bool(up)),
            ("down", .bool(down)),
            ("proposals", .array(proposals.map(\.json))),
            ("surges", .array(surges.map(\.json))),
            ("state", state.json),
        ])
    }
}
