extension Raft {
    /// Leader: appends new entries of this term (assigning indexes), updates its own
    /// progress and the configuration, and tries to commit (a single voter commits at once).
    @discardableResult
    func appendEntries(_ entries: [Entry]) -> LogPosition {
        var entries = entries
        var index = log.lastIndex
        for i in entries.indices {
            index += 1
            entries[i].term = term
            entries[i].index = index
        }
        let hadConfChange = entries.contains { $0.kind == .confChange }
        writeLog(entries)
        for e in entries { uncommittedBytes += UInt64(e.data.count) }
        if hadConfChange { syncProgressWithConf() }
        _ = progress[id]?.maybeUpdate(index)
        _ = maybeCommit()
        return LogPosition(index: index, term: term)
    }

    /// Leader: commits the highest index replicated on a quorum of voters, if it is of this
    /// term. Returns true when the commit index moved.
    @discardableResult
    func maybeCommit() -> Bool {
        var matches: [UInt64] = []
        for voter in conf.voters {
            matches.append(progress[voter]?.match ?? 0)
        }
        guard !matches.isEmpty else { return false }
        matches.sort(by: >)
        let quorumIndex = matches[conf.quorum - 1]
        guard log.maybeCommit(index: quorumIndex, term: term) else { return false }
        didAdvanceCommit()
        return true
    }

    /// Leader: sends an append to `to` if its window allows; returns whether one was sent.
    /// When the entries it needs are compacted, sends the latest snapshot instead.
    @discardableResult
    func sendAppend(to: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard to != id, let pr = progress[to], !pr.isPaused else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex),
              let entries = log.entries(from: pr.next, maxBytes: config.maxSizePerMsg)
        else {
            return sendSnapshot(to: to, pr)
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        send(Message(
            kind: .append, from: id, to: to, term: term, logTerm: prevTerm, index: prevIndex,
            commit: log.committed, entries: entries))
        if let last = entries.last {
            pr.sentEntries(lastIndex: last.index, bytes: entries.reduce(0) { $0 + $1.byteSize })
        } else if pr.state == .probe {
            pr.probeSent = true
        }
        return true
    }

    private func sendSnapshot(to: NodeID, _ pr: Progress) -> Bool {
        // A node not heard from recently is probably down: do not start a costly transfer.
        guard pr.recentActive else { return false }
        let snapshot: Snapshot
        do {
            snapshot = try log.storage.snapshot()
        } catch {
            switch error {
            case .snapshotTemporarilyUnavailable: return false
            default: fatalError("raft: log storage failed: \(error)")
            }
        }
        precondition(!snapshot.isEmpty, "raft: entries compacted but no snapshot")
        pr.becomeSnapshot(index: snapshot.metadata.index)
        send(Message(kind: .snapshot, from: id, to: to, term: term, snapshot: snapshot))
        return true
    }

    /// Leader: sends appends to every member (used when entries or the commit index move).
    func broadcastAppend() {
        for member in progress.keys.sorted() where member != id {
            sendAppend(to: member)
        }
    }

    /// Leader: heartbeats carry the commit index (capped at what each follower is known to
    /// hold) and the newest read-index round, so their answers confirm leadership.
    func broadcastHeartbeat() {
        let context = pendingReads.last.map { encodeReadSequence($0.sequence) } ?? []
        for member in progress.keys.sorted() where member != id {
            sendHeartbeat(to: member, context: context)
        }
    }

    func sendHeartbeat(to: NodeID, context: [UInt8]) {
        guard let pr = progress[to] else { return }
        send(Message(
            kind: .heartbeat, from: id, to: to, term: term,
            commit: min(pr.match, log.committed), context: context))
    }

    func handleAppendResponse(_ m: Message) {
        guard let pr = progress[m.from] else { return }
        pr.recentActive = true
        if m.reject {
            var probe = m.rejectHint
            if m.logTerm > 0 {
                probe = log.findConflictByTerm(index: m.rejectHint, term: m.logTerm)
            }
            if pr.maybeDecrease(rejected: m.index, hint: probe) {
                if pr.state == .replicate { pr.becomeProbe() }
                sendAppend(to: m.from)
            }
            return
        }
        let wasPaused = pr.isPaused
        guard pr.maybeUpdate(m.index) else {
            if wasPaused && !pr.isPaused { sendAppend(to: m.from, sendIfEmpty: false) }
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot where pr.match + 1 >= log.firstIndex:
            pr.becomeProbe()
            pr.becomeReplicate()
        case .snapshot:
            break
        case .replicate:
            pr.inflights.freeLE(m.index)
        }
        if maybeCommit() {
            broadcastAppend()
        } else if wasPaused {
            // It may have missed a commit index broadcast while paused.
            sendAppend(to: m.from)
        }
        // Fill the pipeline.
        while role == .leader, sendAppend(to: m.from, sendIfEmpty: false) {}
        guard role == .leader else { return }
        if m.from == transferee { maybeSendTimeoutNow() }
        maybePromoteLearners()
    }

    func handleHeartbeatResponse(_ m: Message) {
        guard let pr = progress[m.from] else { return }
        pr.recentActive = true
        pr.probeSent = false
        if pr.state == .replicate && pr.inflights.isFull {
            pr.inflights.freeFirst()
        }
        if pr.match < log.lastIndex {
            sendAppend(to: m.from)
        }
        if !m.context.isEmpty {
            acknowledgeRead(from: m.from, context: m.context)
        }
    }

    /// Leader: reacts to a moved commit index: reads waiting for the first commit of the
    /// term go ahead, and a leader no longer in its configuration steps down once that
    /// configuration is committed.
    func didAdvanceCommit() {
        if !readsAwaitingCommit.isEmpty && committedInCurrentTerm {
            let waiting = readsAwaitingCommit
            readsAwaitingCommit = []
            for r in waiting { startRead(from: r.from, context: r.context) }
        }
        if !isVoter && log.committed >= confs.latestIndex {
            stepDownAfterRemoval()
        }
    }
}
