extension Raft {
    /// Leader: starts handing leadership to `target`, a voter of priority > 0. If it is
    /// caught up it gets `timeoutNow` at once; otherwise the leader first brings its log up to
    /// date. Proposals are refused until the transfer ends: by this node stepping down, or by
    /// `transferTimeoutTicks` elapsing (abandoned).
    func transferLeadership(to target: NodeID) throws(RaftError) {
        guard role == .leader else { throw .notLeader(leader: leader == 0 ? nil : leader) }
        if target == id { return }
        guard conf.isVoter(target) else {
            throw .invalidTransferTarget(target, reason: "not a voter")
        }
        guard conf.attributes(of: target).priority > 0 else {
            throw .invalidTransferTarget(target, reason: "priority 0 never leads while another voter can")
        }
        if transferee == target { return }
        transferee = target
        transferElapsed = 0
        timeoutNowSent = false
        maybeSendTimeoutNow()
        if !timeoutNowSent { sendAppend(to: target) }
    }

    /// Sends `timeoutNow` to the transferee once its log matches ours completely.
    func maybeSendTimeoutNow() {
        guard transferee != 0, !timeoutNowSent, let pr = progress[transferee],
              pr.match == log.lastIndex else { return }
        timeoutNowSent = true
        send(Message(kind: .timeoutNow, from: id, to: transferee, term: term))
    }

    func abortTransfer() {
        transferee = 0
        transferElapsed = 0
        timeoutNowSent = false
    }
}
