extension Raft {
    /// Follower side of AppendEntries (Raft §5.3). Answers with the last index now known to
    /// match the leader, or a rejection with a hint (`rejectHint`, `logTerm`) that lets the
    /// leader skip a whole conflicting term at once.
    func handleAppend(_ m: Message) {
        if m.index < log.committed {
            // Everything up to our commit index matches any leader's log.
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        if let result = log.maybeAppend(prevIndex: m.index, prevTerm: m.logTerm, commit: m.commit, entries: m.entries) {
            confs.didAppend(result.appended)
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: result.lastNew))
            return
        }
        var hint = min(m.index, log.lastIndex)
        hint = log.findConflictByTerm(index: hint, term: m.logTerm)
        let hintTerm = log.term(at: hint) ?? 0
        send(Message(
            kind: .appendResponse, from: id, to: m.from, term: term, logTerm: hintTerm, index: m.index,
            reject: true, rejectHint: hint))
    }

    func handleHeartbeat(_ m: Message) {
        // The leader caps the commit index at our known match, so this never commits
        // entries we do not hold; the `min` only guards against a misbehaving peer.
        log.commitTo(min(m.commit, log.lastIndex))
        send(Message(kind: .heartbeatResponse, from: id, to: m.from, term: term, context: m.context))
    }

    /// InstallSnapshot. A snapshot at or below our commit index is stale; one whose last
    /// entry we already hold only moves the commit index; otherwise the log is replaced and
    /// the application must install it (`Ready.snapshot`) before anything else.
    func handleSnapshot(_ m: Message) {
        guard let snapshot = m.snapshot else { return }
        let meta = snapshot.metadata
        if meta.index <= log.committed {
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        if log.matchTerm(index: meta.index, term: meta.term) {
            log.commitTo(meta.index)
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        log.restore(snapshot)
        confs.restore(meta)
        send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.lastIndex))
    }
}
