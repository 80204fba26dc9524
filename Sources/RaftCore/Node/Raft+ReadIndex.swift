extension Raft {
    /// ReadIndex (Raft dissertation §6.4). On a leader: once it has committed an entry of its
    /// term, it records the commit index, confirms it is still leader with a heartbeat round
    /// acknowledged by a quorum, then answers with that index. On a follower: forwards the
    /// request to the leader, whose answer arrives as a `ReadState`.
    func readIndex(context: [UInt8]) throws(RaftError) {
        if role == .leader {
            guard pendingReads.count + readsAwaitingCommit.count < config.maxPendingReadIndex else {
                throw .readIndexQueueFull(limit: config.maxPendingReadIndex)
            }
            handleReadIndexRequest(from: id, context: context)
            return
        }
        guard leader != 0 else { throw .notLeader(leader: nil) }
        send(Message(kind: .readIndex, from: id, to: leader, term: term, context: context))
    }

    func handleReadIndexRequest(from: NodeID, context: [UInt8]) {
        guard pendingReads.count + readsAwaitingCommit.count < config.maxPendingReadIndex else {
            return  // a remote caller times out and retries
        }
        if !committedInCurrentTerm {
            readsAwaitingCommit.append((from, context))
            return
        }
        startRead(from: from, context: context)
    }

    func startRead(from: NodeID, context: [UInt8]) {
        if conf.voters == [id] {
            answerRead(index: log.committed, from: from, context: context)
            return
        }
        readSequence += 1
        pendingReads.append(PendingRead(
            sequence: readSequence, index: log.committed, from: from, context: context, acks: [id]))
        broadcastHeartbeat()
    }

    /// A heartbeat answer echoing read round `context` confirms leadership for that round
    /// and every earlier one (their heartbeats were sent before it).
    func acknowledgeRead(from: NodeID, context: [UInt8]) {
        guard let sequence = decodeReadSequence(context) else { return }
        for i in pendingReads.indices where pendingReads[i].sequence <= sequence {
            pendingReads[i].acks.insert(from)
        }
        releaseConfirmedReads()
    }

    func releaseConfirmedReads() {
        var released = 0
        while released < pendingReads.count, conf.hasQuorum(pendingReads[released].acks) {
            let r = pendingReads[released]
            answerRead(index: r.index, from: r.from, context: r.context)
            released += 1
        }
        if released > 0 { pendingReads.removeFirst(released) }
    }

    private func answerRead(index: UInt64, from: NodeID, context: [UInt8]) {
        if from == id {
            readStates.append(ReadState(index: index, context: context))
        } else {
            send(Message(kind: .readIndexResponse, from: id, to: from, term: term, index: index, context: context))
        }
    }

    func encodeReadSequence(_ sequence: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (8 * UInt64($0))) }
    }

    func decodeReadSequence(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        var v: UInt64 = 0
        for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
}
