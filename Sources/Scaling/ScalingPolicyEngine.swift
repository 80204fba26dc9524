/// Turns measurements into scaling recommendations (DESIGN §7); pure: the same inputs give the
/// same `Evaluation`.
///
/// Call `evaluate` about once a second with a validated policy, the caller's `LatencyWindows`,
/// fresh `ClusterFacts` and the `state` returned by the previous call; hand any proposal to the
/// outbox. Each call:
/// 1. Classifies the workload on the (unclipped) up-average window when it holds at least
///    `minimumRequests` requests, with the enter/leave bands (`WorkloadClass.next`).
/// 2. Detects a surge: the mean over `surgeWindowSeconds` is above `surgeMinimumSeconds` and
///    above `surgeFactor` × the mean over the rest of the up-average window (which must hold
///    requests: a cold start is no surge). While surging
///    nothing is recommended (back pressure absorbs it) and both sustain timers are held at
///    zero, so a condition must hold a full sustain period after the surge ends.
/// 3. Measures the deciding windows, each clipped to start after the last recommendation and
///    after the end of the last surge (so a decision rests only on what was measured since the
///    last change; a clipped window longer than the per-second ring is read to the minute).
///    Up: mean > `upAverageSeconds` or timeout rate > `upTimeoutRate`; down: not up and mean
///    < `downAverageSeconds`; each needs `minimumRequests` in its window.
/// 4. Recommends, outside `cooldownSeconds` of the last recommendation:
///    - scale up once the up condition has held `sustainUpSeconds`: write-intensive →
///      bigger_leader at level + 1, or split_shard at `ClusterFacts.maximumLevel`; otherwise
///      add_node at the leader's level while `readReplicas < maxReplicas`, else split_shard;
///    - else scale down once the down condition has held `sustainDownSeconds`, outside
///      `downCooldownSeconds` of the last scale-up, with `stage > minimumNodes`, no lagging
///      replica and a `removableNode` → remove_node (a held scale-down keeps its timer running).
///    A recommendation resets both sustain timers and starts the cooldown.
/// 5. Reports each surge once, as an episode (`SurgeEpisode`: start, end, peak and baseline
///    figures) in `Evaluation.surges`, when it is over. A surge that ended stays pending until
///    one of:
///    - the up condition has held `sustainUpSeconds` since it ended: the rise lasted, it is
///      answered as any other (a scale-up, unless the cooldown holds it) and the episode is
///      dropped, never reported — a lasting step starts as a surge (the short window far above
///      the long one) until the long window catches up;
///    - `surgeWindowSeconds` have passed since it ended (the surge window has turned over) and
///      the up condition does not hold, measured on at least `minimumRequests` requests since
///      the end or for `sustainUpSeconds` without them: reported.
///    A surge detected again while its episode is pending continues that episode, so a flicker
///    around the threshold is one report, not one per second. Reports start no cooldown and
///    reset no timer.
///
/// Times are the caller's monotonic seconds; if `now` goes backwards the cooldowns count as
/// still running and the sustain timers as not yet elapsed.
public enum ScalingPolicyEngine {
    public static func evaluate(
        windows: LatencyWindows, now: UInt64, facts: ClusterFacts, state: ScalingState, policy: ScalingPolicy
    ) -> Evaluation {
        var state = state
        let unclipped = Measurements.Unclipped(windows: windows, now: now, policy: policy)
        if unclipped.long.requests >= policy.minimumRequests {
            state.workload = state.workload.next(
                readFraction: unclipped.long.readFraction, writeFraction: unclipped.long.writeFraction, policy: policy)
        }

        let surging = unclipped.surging(policy)
        if surging, !state.surging {
            state.surging = true
            state.surgeSince = now
        } else if !surging, state.surging {
            state.surging = false
            state.surgeSince = nil
            state.surgeEnded = now
        }
        if surging {
            if var episode = state.surgeEpisode {
                episode.end = nil
                episode.observe(unclipped.surge)
                state.surgeEpisode = episode
            } else {
                state.surgeEpisode = SurgeEpisode(now: now, surge: unclipped.surge, baseline: unclipped.baseline, policy: policy)
            }
        } else if state.surgeEpisode != nil, state.surgeEpisode?.end == nil {
            state.surgeEpisode?.end = now
        }

        let origin = [state.lastRecommendation, state.surgeEnded].compactMap { $0 }.max()
        let measured = Measurements(windows: windows, now: now, origin: origin, unclipped: unclipped, policy: policy)
        let up = measured.averageHigh(policy) || measured.timeoutsHigh(policy)
        let down = !up && measured.averageLow(policy)
        state.upSince = up && !surging ? (state.upSince ?? now) : nil
        state.downSince = down && !surging ? (state.downSince ?? now) : nil
        let surges = resolveSurge(&state, up: up, measured: measured, now: now, policy: policy)

        var proposal: Proposal?
        let coolingDown = state.lastRecommendation.map { elapsed(from: $0, to: now) < policy.cooldownSeconds } ?? false
        if !surging, !coolingDown {
            if let since = state.upSince, elapsed(from: since, to: now) >= policy.sustainUpSeconds {
                proposal = scaleUp(
                    measured, sustained: elapsed(from: since, to: now), windows: windows, now: now, facts: facts,
                    workload: state.workload, policy: policy)
            } else if let since = state.downSince, elapsed(from: since, to: now) >= policy.sustainDownSeconds,
                !(state.lastScaleUp.map { elapsed(from: $0, to: now) < policy.downCooldownSeconds } ?? false),
                facts.stage > policy.minimumNodes, !facts.anyReplicaLagging, let node = facts.removableNode
            {
                proposal = scaleDown(
                    measured, sustained: elapsed(from: since, to: now), node: node, facts: facts, policy: policy)
            }
        }
        if let proposal {
            state.upSince = nil
            state.downSince = nil
            state.lastRecommendation = now
            state.lastRecommendationKind = proposal.kind
            if proposal.kind.isScaleUp { state.lastScaleUp = now }
        }
        return Evaluation(
            state: state, proposals: proposal.map { [$0] } ?? [], surges: surges, surging: surging, workload: state.workload,
            up: up, down: down)
    }

    /// Step 5: reports or drops the pending surge episode (one that has ended); returns the
    /// reported one, if any. Call after the sustain timers are updated, before a proposal
    /// resets them.
    private static func resolveSurge(
        _ state: inout ScalingState, up: Bool, measured: Measurements, now: UInt64, policy: ScalingPolicy
    ) -> [SurgeEpisode] {
        guard let episode = state.surgeEpisode, let end = episode.end else { return [] }
        if let since = state.upSince, elapsed(from: since, to: now) >= policy.sustainUpSeconds {
            state.surgeEpisode = nil  // a lasting rise, not a surge: the scale-up answers it
            return []
        }
        let quiet = elapsed(from: end, to: now)
        guard quiet >= policy.surgeWindowSeconds, !up,
            measured.up.requests >= policy.minimumRequests || quiet >= policy.sustainUpSeconds
        else { return [] }
        state.surgeEpisode = nil
        return [episode]
    }

    /// Whole seconds from `start` to `now`; 0 when `now` is earlier. Saturates at `Int.max`.
    static func elapsed(from start: UInt64, to now: UInt64) -> Int {
        now > start ? Int(clamping: now - start) : 0
    }
}
