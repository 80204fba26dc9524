extension Raft {
    /// Handles one message from a peer: term rules first (Raft §5.1, PreVote, leases), then
    /// the handler of the current role.
    func step(_ m: Message) {
        if m.term > term {
            if m.isVoteRequest {
                // Leader lease (CheckQuorum): while this node hears from a live leader, a
                // vote request cannot unseat it, unless it comes from a leadership transfer.
                let inLease = config.checkQuorum && leader != 0 && electionElapsed < config.electionTick
                if inLease && !m.transfer { return }
            }
            switch m.kind {
            case .preVote:
                break  // a pre-vote never changes our term
            case .preVoteResponse where !m.reject:
                break  // a granted pre-vote carries the term we would campaign in
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: m.term, leader: m.from)
            case .vote where role != .leader:
                // Raft §5.2: the election timer restarts on hearing from a leader or granting
                // a vote, not on merely seeing a newer term. Keeping it running lets an
                // up-to-date node (say a priority-0 voter with its long timeout) campaign even
                // while a node with a stale log keeps starting elections it cannot win.
                let elapsed = electionElapsed
                let timeout = randomizedElectionTimeout
                becomeFollower(term: m.term, leader: 0)
                electionElapsed = elapsed
                randomizedElectionTimeout = timeout
            default:
                becomeFollower(term: m.term, leader: 0)
            }
        } else if m.term < term {
            if (config.checkQuorum || config.preVote) && (m.kind == .heartbeat || m.kind == .append) {
                // A stale leader (e.g. just reconnected) learns the newer term and steps down;
                // without this, PreVote/CheckQuorum could leave it unaware forever.
                send(Message(kind: .appendResponse, from: id, to: m.from, term: term))
            } else if m.kind == .preVote {
                send(Message(kind: .preVoteResponse, from: id, to: m.from, term: term, reject: true))
            }
            return
        }

        if m.isVoteRequest {
            handleVoteRequest(m)
            return
        }
        switch role {
        case .leader: stepLeader(m)
        case .candidate, .preCandidate: stepCandidate(m)
        case .follower: stepFollower(m)
        }
    }

    private func stepLeader(_ m: Message) {
        switch m.kind {
        case .appendResponse: handleAppendResponse(m)
        case .heartbeatResponse: handleHeartbeatResponse(m)
        case .readIndex: handleReadIndexRequest(from: m.from, context: m.context)
        default: break
        }
    }

    private func stepCandidate(_ m: Message) {
        switch m.kind {
        case .append, .heartbeat, .snapshot:
            // Someone won this term.
            becomeFollower(term: term, leader: m.from)
            stepFollower(m)
        case .preVoteResponse where role == .preCandidate:
            guard m.reject || m.term == term + 1 else { return }  // a stale campaign's answer
            recordVote(from: m.from, granted: !m.reject)
        case .voteResponse where role == .candidate:
            recordVote(from: m.from, granted: !m.reject)
        default:
            break
        }
    }

    private func stepFollower(_ m: Message) {
        switch m.kind {
        case .append:
            electionElapsed = 0
            setLeader(m.from)
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            setLeader(m.from)
            handleHeartbeat(m)
        case .snapshot:
            electionElapsed = 0
            setLeader(m.from)
            handleSnapshot(m)
        case .timeoutNow:
            // Leadership transfer: campaign now, skipping PreVote and the lease.
            if isPromotable { campaign(transfer: true) }
        case .readIndexResponse:
            readStates.append(ReadState(index: m.index, context: m.context))
        default:
            break
        }
    }
}
