/// Smart Raft: leadership preference by level and priority, without touching Raft's
/// safety rules.
///
/// Design. Every member has `NodeAttributes` (`level` 1...5, `priority`), replicated in the
/// configuration so all members agree on them. Preference acts in exactly two places:
///
/// 1. *When a voter campaigns.* Its randomized election timeout is
///    `electionTick + stagger + jitter`, where `jitter` is uniform in `0..<electionTick` and
///    `stagger = (highest level among priority>0 voters − own level) · electionTick / 4`. After
///    a leader dies, all followers' timers started from the same last heartbeat, so a voter
///    of the highest level usually fires first and, if its log is up to date, wins the
///    (pre-)vote before lower levels even start. A uniform-level group has no stagger at all.
///    A priority-0 voter waits `priorityZeroTimeoutMultiplier · electionTick + jitter` (at
///    least 4 base timeouts, while every other voter fires before 3): it only campaigns when
///    no voter of priority > 0 managed to get elected in that time — because none is alive
///    and reachable, or none has a log up to date enough to win.
/// 2. *When a leader hands off.* A leader that has committed an entry of its term and sees a
///    voter of strictly higher rank (`NodeAttributes.electionRank`: priority-0 lowest, then
///    level, then priority) that is recently active and within `promotionLag` entries starts
///    an ordinary leadership transfer to it (which catches the target up, then sends
///    `timeoutNow`). This is on when `Config.transferToHigherLevel`, and always for a
///    priority-0 leader. Each target gets an exponential back-off (from 4 to 64 election
///    timeouts, forgotten once that target is seen leading), so a target that cannot win —
///    e.g. one partitioned from everyone but the leader — is not retried in a tight loop.
///
/// Why it is safe. Vote granting, the up-to-date check, one vote per term, leases, commit
/// rules and the configuration are plain Raft and unchanged: timeouts only decide *when* a
/// node asks for votes, and a hand-off is a normal leadership transfer (the target must win
/// a normal election; its log must be up to date, which `timeoutNow` after a full match
/// guarantees). Timing never affects Raft's safety, only liveness. Liveness: ranks are a
/// total preorder and a hand-off only ever goes to a strictly higher rank, so hand-offs
/// cannot ping-pong; the back-off bounds retries; and a priority-0 voter still campaigns, so
/// a group whose only live quorum includes no other electable voter stays available.
///
/// (Rejected alternative: voters refusing votes to lower levels while a higher level is
/// "alive". A follower only knows about other followers second-hand and late; such a rule
/// would be safe but could leave the group without any electable candidate.)
extension Raft {
    func resetRandomizedElectionTimeout() {
        let base = config.electionTick
        let mine = conf.attributes(of: id)
        let jitter = Int(rng.next() % UInt64(base))
        if mine.priority == 0 {
            randomizedElectionTimeout = base * config.priorityZeroTimeoutMultiplier + jitter
            return
        }
        var highest = mine.level
        for voter in conf.voters {
            let a = conf.attributes(of: voter)
            if a.priority > 0 && a.level > highest { highest = a.level }
        }
        let stagger = Int(highest - mine.level) * base / 4
        randomizedElectionTimeout = base + stagger + jitter
    }

    /// Leader: starts a hand-off to the best live, caught-up voter that outranks this node.
    func maybeHandOffLeadership() {
        guard role == .leader, transferee == 0, committedInCurrentTerm else { return }
        let conf = self.conf
        if handoffBackoff.count > conf.voters.count {
            handoffBackoff = handoffBackoff.filter { conf.isVoter($0.key) }
        }
        let myRank = conf.isVoter(id) ? conf.attributes(of: id).electionRank : -1
        guard config.transferToHigherLevel || myRank <= 0 else { return }
        let last = log.lastIndex
        var best: NodeID = 0
        var bestRank = myRank
        for voter in conf.voters where voter != id {
            let rank = conf.attributes(of: voter).electionRank
            guard rank > bestRank, let pr = progress[voter], pr.recentActive,
                  pr.match + config.promotionLag >= last else { continue }
            if let b = handoffBackoff[voter], clock < b.notBefore { continue }
            best = voter
            bestRank = rank
        }
        guard best != 0 else { return }
        let base = UInt64(config.electionTick)
        let delay = min(max((handoffBackoff[best]?.delay ?? 0) * 2, 4 * base), 64 * base)
        handoffBackoff[best] = (clock + delay, delay)
        try? transferLeadership(to: best)
    }
}
