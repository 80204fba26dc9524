extension Raft {
    /// Starts an election: a pre-vote round first when `Config.preVote` (unless this is a
    /// leadership transfer), then the real vote. Only a promotable node campaigns (see
    /// `isPromotable`): learners and removed nodes never do.
    func campaign(transfer: Bool) {
        guard isPromotable, role != .leader else { return }
        if config.preVote && !transfer {
            becomePreCandidate()
            requestVotes(kind: .preVote, term: term + 1, transfer: false)
        } else {
            becomeCandidate()
            requestVotes(kind: .vote, term: term, transfer: transfer)
        }
    }

    private func requestVotes(kind: Message.Kind, term voteTerm: UInt64, transfer: Bool) {
        // Our own vote first: a single-voter group wins at once.
        recordVote(from: id, granted: true)
        guard role == .preCandidate || role == .candidate else { return }
        let lastIndex = log.lastIndex
        let lastTerm = log.lastTerm
        let commit = log.committed
        let commitTerm = log.term(at: commit) ?? 0
        for voter in conf.voters where voter != id {
            send(Message(
                kind: kind, from: id, to: voter, term: voteTerm, logTerm: lastTerm, index: lastIndex,
                commit: commit, commitTerm: commitTerm, transfer: transfer))
        }
    }

    /// Counts an answer; moves on when the campaign is won or lost. Only voters of this
    /// node's configuration count.
    func recordVote(from voter: NodeID, granted: Bool) {
        if votes[voter] == nil { votes[voter] = granted }
        let voters = conf.voters
        var yes = 0
        var no = 0
        for v in voters {
            switch votes[v] {
            case true?: yes += 1
            case false?: no += 1
            case nil: break
            }
        }
        if yes >= conf.quorum {
            if role == .preCandidate {
                becomeCandidate()
                requestVotes(kind: .vote, term: term, transfer: false)
            } else {
                becomeLeader()
                broadcastAppend()
            }
        } else if no > voters.count - conf.quorum {
            becomeFollower(term: term, leader: 0)
        }
    }

    /// Grants or refuses a (pre-)vote (Raft §5.2, §5.4.1). Any node answers when asked —
    /// a candidate asks only the voters of its own configuration, which may list this
    /// node as a voter before this node has received that configuration entry.
    func handleVoteRequest(_ m: Message) {
        if role != .leader { learnCommit(index: m.commit, term: m.commitTerm) }
        let responseKind: Message.Kind = m.kind == .preVote ? .preVoteResponse : .voteResponse
        let canVote = vote == m.from
            || (vote == 0 && leader == 0)
            || (m.kind == .preVote && m.term > term)
        if canVote && log.isUpToDate(lastIndex: m.index, term: m.logTerm) {
            // A granted answer carries the request's term (for a pre-vote, the future term).
            send(Message(kind: responseKind, from: id, to: m.from, term: m.term))
            if m.kind == .vote {
                electionElapsed = 0
                vote = m.from
            }
        } else {
            send(Message(kind: responseKind, from: id, to: m.from, term: term, reject: true))
        }
    }

    /// A candidate's commit index is true knowledge; when our log holds the entry at that
    /// index with the same term, our log equals the candidate's up to it (log matching), so
    /// those entries are committed here too. Lets a node that missed the commit of its own
    /// promotion catch up on it while the group has no leader.
    func learnCommit(index: UInt64, term commitTerm: UInt64) {
        guard index > log.committed, index <= log.lastIndex, commitTerm > 0,
              log.matchTerm(index: index, term: commitTerm) else { return }
        log.commitTo(index)
    }
}
