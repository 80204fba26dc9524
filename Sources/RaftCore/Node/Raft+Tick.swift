extension Raft {
    /// Advances logical time by one tick.
    func tick() {
        clock += 1
        if role == .leader {
            tickLeader()
        } else {
            tickElection()
        }
    }

    private func tickElection() {
        electionElapsed += 1
        guard isPromotable, electionElapsed >= randomizedElectionTimeout else { return }
        electionElapsed = 0
        resetRandomizedElectionTimeout()
        campaign(transfer: false)
    }

    private func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= config.electionTick {
            electionElapsed = 0
            // CheckQuorum: a leader that cannot hear a quorum steps down, so clients are not
            // stuck with a leader that cannot commit.
            if config.checkQuorum && !quorumActive() {
                becomeFollower(term: term, leader: 0)
                return
            }
            // A new period: members must answer again to count as recently active (also
            // what promotion, hand-off and snapshot decisions rely on).
            for (member, pr) in progress where member != id { pr.recentActive = false }
        }
        if transferee != 0 {
            transferElapsed += 1
            if transferElapsed >= config.effectiveTransferTimeout { abortTransfer() }
        }
        if heartbeatElapsed >= config.heartbeatTick {
            heartbeatElapsed = 0
            broadcastHeartbeat()
        }
        maybePromoteLearners()
        maybeHandOffLeadership()
    }

    private func quorumActive() -> Bool {
        var active: [NodeID] = []
        for (member, pr) in progress where member == id || pr.recentActive { active.append(member) }
        return conf.hasQuorum(active)
    }
}
