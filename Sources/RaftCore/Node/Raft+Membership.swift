extension Raft {
    /// Leader: appends a single-server configuration change. It takes effect on every node
    /// as soon as the entry is in that node's log (see `ConfHistory`). Refused until the
    /// previous change is committed and the leader has committed an entry of its own term.
    func proposeConfChange(_ change: ConfChange) throws(RaftError) -> LogPosition {
        let data = change.encoded()
        try checkCanPropose(bytes: UInt64(data.count))
        guard committedInCurrentTerm, pendingConfIndex <= log.committed else {
            throw .confChangePending(index: max(pendingConfIndex, log.committed + 1))
        }
        try conf.validate(change)
        let position = appendEntries([Entry(term: term, index: 0, kind: .confChange, data: data)])
        pendingConfIndex = position.index
        broadcastPending = true
        return position
    }

    /// Leader: makes `progress` match the latest configuration (new members start probing
    /// after the leader's log; removed ones are dropped; promotions change the quorum).
    func syncProgressWithConf() {
        let conf = self.conf
        let next = log.lastIndex + 1
        for member in conf.members where progress[member] == nil {
            let pr = makeProgress(member, next: next)
            // Treated as alive until the next CheckQuorum round says otherwise.
            pr.recentActive = true
            progress[member] = pr
        }
        for member in Array(progress.keys) where member != id && !conf.isMember(member) {
            progress[member] = nil
        }
        for (member, pr) in progress {
            pr.isLearner = !conf.isVoter(member)
        }
        if transferee != 0 && !conf.isVoter(transferee) {
            abortTransfer()
        }
    }

    /// Leader: its own removal is committed. It hands leadership to the most caught-up
    /// voter right away (saving an election timeout) and steps down.
    func stepDownAfterRemoval() {
        let last = log.lastIndex
        let successor = conf.voters.first { progress[$0]?.match == last }
        if let successor {
            send(Message(kind: .timeoutNow, from: id, to: successor, term: term))
        }
        becomeFollower(term: term, leader: 0)
    }

    /// Leader: proposes the promotion of the first learner that is caught up (match within
    /// `promotionLag` of the last index, and at or past the leader's compaction point — a
    /// learner that has acknowledged nothing yet, or still needs the snapshot, is not caught
    /// up however short the log), recently active, and allowed to be promoted.
    func maybePromoteLearners() {
        guard role == .leader, config.autoPromoteLearners, transferee == 0,
              committedInCurrentTerm, pendingConfIndex <= log.committed else { return }
        let last = log.lastIndex
        let conf = self.conf
        for learner in conf.learners where conf.attributes(of: learner).autoPromote {
            guard let pr = progress[learner], pr.recentActive, pr.match > 0, pr.match + 1 >= log.firstIndex,
                  pr.match + config.promotionLag >= last else { continue }
            _ = try? proposeConfChange(.promote(learner))
            return
        }
    }
}
