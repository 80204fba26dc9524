extension Raft {
    /// Leader: appends `data` as a normal entry. Fails fast when not leader, during a
    /// leadership transfer, or when the uncommitted backlog is full (back pressure).
    func propose(_ data: [UInt8]) throws(RaftError) -> LogPosition {
        try checkCanPropose(bytes: UInt64(data.count))
        let position = appendEntries([Entry(term: term, index: 0, kind: .normal, data: data)])
        broadcastPending = true
        return position
    }

    /// Sends the appends for proposals made since the last call (see `broadcastPending`).
    func flushProposals() {
        guard broadcastPending else { return }
        broadcastPending = false
        guard role == .leader else { return }
        for member in progress.keys.sorted() where member != id {
            // Fill each follower's window (several messages when `maxSizePerMsg` splits).
            while sendAppend(to: member, sendIfEmpty: false) {}
        }
    }

    func checkCanPropose(bytes: UInt64) throws(RaftError) {
        guard role == .leader else { throw .notLeader(leader: leader == 0 ? nil : leader) }
        guard transferee == 0 else { throw .transferInProgress(to: transferee) }
        // A proposal on an empty backlog always goes through, so one large entry cannot
        // wedge the group.
        if uncommittedBytes > 0 && uncommittedBytes + bytes > config.maxUncommittedBytes {
            throw .uncommittedBytesExceeded(uncommitted: uncommittedBytes, limit: config.maxUncommittedBytes)
        }
    }

    /// Entries were applied: their payload no longer counts as uncommitted.
    func reduceUncommitted(_ entries: [Entry]) {
        guard role == .leader else { return }
        var bytes: UInt64 = 0
        for e in entries where e.term == term { bytes += UInt64(e.data.count) }
        uncommittedBytes = bytes >= uncommittedBytes ? 0 : uncommittedBytes - bytes
    }
}
