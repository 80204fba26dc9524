import Foundation
import Logging
import PeerTransport
import RaftCore
import Storage
import Sync
import Topology
import Synchronization

/// The Raft thread's state: the core, its storage and every request waiting on the log.
/// Only the Raft thread touches it.
final class RaftLoop {
    private struct PendingProposal {
        let completion: ReplicaInput.ProposalCompletion
        let deadline: UInt64
        var index: UInt64
    }

    private struct PendingRead {
        let completion: ReplicaInput.ReadCompletion
        let deadline: UInt64
        var index: UInt64?
    }

    private struct JoinTask {
        let member: Member
        let completion: ReplicaInput.Completion
        let deadline: UInt64
        /// Directory entry proposed (at this index); then the learner conf change (by index).
        var directoryIndex: UInt64?
        var directoryApplied = false
        var confChangeIndex: UInt64?
    }

    /// A control entry or membership change waiting to be applied (matched by index and term).
    private struct PendingControl {
        let term: UInt64
        let deadline: UInt64
        let completion: ReplicaInput.ReadCompletion
        /// A removal: drop this node from the directory once the change is applied.
        var removes: NodeID?
    }

    let configuration: ReplicaConfiguration
    let node: RawNode
    let raftStore: RaftStore
    let transport: PeerTransport
    let clusterToken: String?
    let logger: Logger

    private var sequence: UInt64 = 0
    private var pending: [ProposalID: PendingProposal] = [:]
    private var proposalsByIndex: [UInt64: ProposalID] = [:]
    private var reads: [UInt64: PendingRead] = [:]
    private var readSequence: UInt64 = 0
    private var transfers: [(target: NodeID, completion: ReplicaInput.Completion, deadline: UInt64)] = []
    private var joins: [JoinTask] = []
    private var controls: [UInt64: PendingControl] = [:]
    /// Leader: when each peer was last heard from (monotonic ns), reset on becoming leader.
    private var lastHeard: [NodeID: UInt64] = [:]
    /// Node directory: the replicated members table plus peers learned outside the log.
    private var directory: [NodeID: Member] = [:]
    /// The generation of the meta shard's directory last read (other shards).
    private var directoryGeneration: UInt64 = 0
    private var fetching: String?
    private let fetchProgressBox = TransferProgress()
    private var lastRole: Role = .follower
    private var lastLeader: NodeID?
    /// Completions produced this turn, handed to the answer thread at its end.
    private var answers: [@Sendable () -> Void] = []
    /// The replica this loop drives (set when `run` starts).
    private weak var replica: Replica?

    init(configuration: ReplicaConfiguration, raftStore: RaftStore, transport: PeerTransport,
         clusterToken: String?, logger: Logger) throws {
        self.configuration = configuration
        self.raftStore = raftStore
        self.transport = transport
        self.clusterToken = clusterToken
        self.logger = logger
        var config = Config(id: configuration.raftID, randomSeed: configuration.randomSeed)
        config.electionTick = configuration.electionTicks
        config.heartbeatTick = configuration.heartbeatTicks
        config.applied = raftStore.appliedIndex
        config.promotionLag = configuration.promotionLag
        // Shard 1 follows Smart Raft's hand-off to bigger nodes; other shards keep the Writer
        // the placement chose (docs/ARCHITECTURE.md, "Shards").
        config.transferToHigherLevel = configuration.shard == 1
        node = try RawNode(config: config, storage: raftStore)
        raftStore.liveSnapshots = true
        refreshDirectory()
        let conf = node.confState
        if conf.voters == [configuration.raftID] || (configuration.campaignAtStart && conf.isVoter(configuration.raftID)) {
            try? node.campaign()  // a single voter elects itself at once; so does the parent's leader for a new shard
        }
    }

    // MARK: The loop

    func run(mailbox: Mailbox, replica: Replica) {
        let tickNanoseconds = UInt64(configuration.tickMilliseconds) * 1_000_000
        var nextTick = monotonicNanoseconds() + tickNanoseconds
        var nextPublish: UInt64 = 0
        var lastPublishedRole = Role.follower
        self.replica = replica
        logger.info("raft started", metadata: [
            "raft_id": "\(configuration.raftID)", "applied": "\(raftStore.appliedIndex)",
            "voters": "\(node.confState.voters.count)", "learners": "\(node.confState.learners.count)",
        ])
        while let (peerBatches, inputs) = mailbox.take(maxInputs: 8192, deadline: nextTick) {
            // Peer traffic first: a leader busy with proposals still hears its followers.
            if !peerBatches.isEmpty { step(peerBatches, mailbox: mailbox) }
            for input in inputs { handle(input, mailbox: mailbox) }
            let now = monotonicNanoseconds()
            if now >= nextTick {
                node.tick()
                nextTick += tickNanoseconds
                if nextTick < now { nextTick = now + tickNanoseconds }  // a long turn: skip missed ticks
                expire(now: now)
                driveJoins(now: now)
            }
            do {
                try processReady(replica: replica)
            } catch {
                // The log or the state machine cannot be written: continuing could break Raft's
                // promises. Stop the process; on restart the log is replayed from disk.
                logger.critical("raft storage failed; stopping", metadata: ["error": "\(error)"])
                fatalError("raft storage failed: \(error)")
            }
            replica.answer(answers)
            answers = []
            // Status is for routing, views and shutdown: a few milliseconds stale is fine, and
            // building it on every turn under load costs more than the turn itself.
            let published = monotonicNanoseconds()
            if published >= nextPublish || node.softState.role != lastPublishedRole {
                maybeCompact()
                if configuration.shard != 1, raftStore.store.membersGeneration != directoryGeneration {
                    directoryGeneration = raftStore.store.membersGeneration
                    updateTransportPeers()
                }
                reconcileMembership()
                publish(into: replica, mailbox: mailbox)
                nextPublish = published + 5_000_000
                lastPublishedRole = node.softState.role
            }
        }
        for (_, proposal) in pending { answer(proposal.completion, .failure(.stopped)) }
        for (_, read) in reads { answer(read.completion, .failure(.stopped)) }
        for join in joins { answer(join.completion, .failure(.stopped)) }
        for (_, control) in controls { answer(control.completion, .failure(.stopped)) }
        controls = [:]
        for transfer in transfers { answer(transfer.completion, .failure(.stopped)) }
        pending = [:]
        reads = [:]
        replica.answer(answers)
        answers = []
        logger.info("raft stopped", metadata: ["applied": "\(raftStore.appliedIndex)"])
    }

    /// Runs `completion(result)` after this turn, on the answer thread.
    private func answer<T: Sendable>(_ completion: @escaping @Sendable (Result<T, ReplicaError>) -> Void,
                                     _ result: Result<T, ReplicaError>) {
        answers.append { completion(result) }
    }

    private func step(_ batches: [[Message]], mailbox: Mailbox) {
        let now = monotonicNanoseconds()
        for messages in batches {
            for message in messages {
                lastHeard[message.from] = now
                if message.kind == .snapshot, let snapshot = message.snapshot {
                    startFetch(message, snapshot: snapshot, mailbox: mailbox)
                    continue
                }
                do { try node.step(message) } catch {
                    logger.debug("message refused", metadata: ["kind": "\(message.kind)", "error": "\(error)"])
                }
            }
        }
    }

    private func handle(_ input: ReplicaInput, mailbox: Mailbox) {
        switch input {
        case let .propose(command, deadline, completion):
            // Bounded before it got here: `Replica.propose` admits at most `maxPendingProposals`.
            if let refusal = raftStore.descriptor.refusal(of: command) {
                return answer(completion, .failure(replicaError(refusal)))
            }
            sequence += 1
            let proposal = ProposalID(node: configuration.raftID, sequence: sequence)
            do {
                let position = try node.propose(LogCommand.write(command, proposal: proposal).encoded())
                pending[proposal] = PendingProposal(completion: completion, deadline: deadline, index: position.index)
                proposalsByIndex[position.index] = proposal
            } catch {
                answer(completion, .failure(replicaError(error)))
            }
        case let .snapshotFetched(message):
            fetching = nil
            fetchProgressBox.value.withLock { $0 = nil }
            do { try node.step(message) } catch {
                logger.warning("snapshot message refused", metadata: ["error": "\(error)"])
            }
        case let .snapshotFetchFailed(token):
            if fetching == token { fetching = nil }
            fetchProgressBox.value.withLock { $0 = nil }
        case let .readIndex(deadline, completion):
            guard reads.count < configuration.maxPendingReads else {
                return answer(completion, .failure(.overloaded("\(reads.count) reads waiting for a read index")))
            }
            readSequence += 1
            var context: [UInt8] = []
            withUnsafeBytes(of: readSequence.littleEndian) { context.append(contentsOf: $0) }
            do {
                try node.readIndex(context: context)
                reads[readSequence] = PendingRead(completion: completion, deadline: deadline, index: nil)
            } catch {
                answer(completion, .failure(replicaError(error)))
            }
        case let .transfer(target, completion):
            do {
                try node.transferLeadership(to: target)
                let deadline = monotonicNanoseconds() + UInt64(configuration.electionTicks * 3 * configuration.tickMilliseconds) * 1_000_000
                transfers.append((target, completion, deadline))
            } catch {
                answer(completion, .failure(replicaError(error)))
            }
        case let .addMember(member, deadline, completion):
            if let existing = joins.firstIndex(where: { $0.member.raftID == member.raftID }) {
                joins.remove(at: existing)  // a retried join replaces the previous attempt
            }
            joins.append(JoinTask(member: member, completion: completion, deadline: deadline))
            driveJoins(now: monotonicNanoseconds())
        case let .changeMembership(change, deadline, completion):
            do {
                let position = try node.proposeConfChange(change)
                controls[position.index] = PendingControl(term: position.term, deadline: deadline,
                                                          completion: { completion($0.map { _ in () }) },
                                                          removes: change.kind == .remove ? change.nodeID : nil)
            } catch {
                answer(completion, .failure(replicaError(error)))
            }
        case let .proposeControl(command, deadline, completion):
            do {
                let position = try node.propose(command.encoded())
                controls[position.index] = PendingControl(term: position.term, deadline: deadline, completion: completion)
            } catch {
                answer(completion, .failure(replicaError(error)))
            }
        case let .unreachable(peer):
            node.reportUnreachable(peer)
        case let .knownPeers(members):
            for member in members where member.raftID != configuration.raftID && directory[member.raftID] == nil {
                directory[member.raftID] = member
            }
            updateTransportPeers()
        }
    }

    // MARK: Ready

    private func processReady(replica: Replica) throws {
        while node.hasReady {
            let ready = node.ready()
            if let soft = ready.softState { roleChanged(soft) }
            // The core decides what may leave before the fsync (a leader's appends: followers
            // write while it does) and what only after (votes, acknowledgements): see `Ready`.
            if !ready.earlyMessages.isEmpty { transport.send(ready.earlyMessages, shard: configuration.shard) }
            let applied = try raftStore.save(ready)
            if !ready.messages.isEmpty {
                transport.send(ready.messages, shard: configuration.shard)
                for message in ready.messages where message.kind == .snapshot {
                    node.reportSnapshot(message.to, success: true)  // the follower pulls the image
                }
            }
            if !applied.isEmpty || ready.hardState != nil {
                // Before anyone is answered: a client that got its index sees it in the status.
                let commit = node.hardState.commit, appliedIndex = raftStore.appliedIndex
                replica.published.withLock { $0.commit = commit; $0.applied = appliedIndex }
            }
            var membership = ready.snapshot != nil
            for entry in applied {
                membership = membership || entry.membershipChanged
                complete(entry)
                if let child = entry.split { replica.splitApplied(child, leading: node.softState.role == .leader) }
            }
            for state in ready.readStates { readStateArrived(state) }
            node.advance(ready)
            if membership { refreshDirectory() }  // after advance: the core's applied configuration is current
            serveReads()
        }
    }

    private func complete(_ entry: AppliedEntry) {
        let waiting = proposalsByIndex.removeValue(forKey: entry.index)
        if let proposal = entry.proposal, proposal.node == configuration.raftID, let request = pending.removeValue(forKey: proposal) {
            if let result = entry.result { answer(request.completion, .success(result)) }
            else if let refusal = entry.refusal { answer(request.completion, .failure(replicaError(refusal))) }
            else { answer(request.completion, .failure(.rejected("write refused: no result"))) }
            if waiting != proposal, let waiting, let other = pending.removeValue(forKey: waiting) {
                answer(other.completion, .failure(.notLeader(leaderURL: leaderURL())))
            }
        } else if let waiting, let lost = pending.removeValue(forKey: waiting) {
            // Our proposal at this index was overwritten by another leader's entry: it never
            // happened, so the client may safely retry.
            answer(lost.completion, .failure(.notLeader(leaderURL: leaderURL())))
        }
        if let control = controls.removeValue(forKey: entry.index) {
            if control.term == entry.term {
                if let removed = control.removes {
                    _ = try? node.propose(LogCommand.removeMember(raftID: removed).encoded())
                }
                answer(control.completion, .success(entry.index))
            } else {
                answer(control.completion, .failure(.notLeader(leaderURL: leaderURL())))  // overwritten: it never happened
            }
        }
        if let index = joins.firstIndex(where: { $0.directoryIndex == entry.index }) {
            joins[index].directoryApplied = true
        }
        if let index = joins.firstIndex(where: { $0.confChangeIndex == entry.index }) {
            let join = joins.remove(at: index)
            logger.info("member added as learner", metadata: ["node": "\(join.member.id)", "index": "\(entry.index)"])
            answer(join.completion, .success(()))
        }
    }

    private func roleChanged(_ soft: SoftState) {
        if soft.role != lastRole || soft.leader != lastLeader {
            logger.info("raft role", metadata: [
                "role": "\(soft.role)", "leader": "\(soft.leader.flatMap { directory[$0]?.id } ?? soft.leader.map { "\($0)" } ?? "none")",
                "term": "\(node.hardState.term)",
            ])
        }
        if lastRole == .leader && soft.role != .leader {
            for join in joins { answer(join.completion, .failure(.notLeader(leaderURL: nil))) }
            joins = []
        }
        if soft.role == .leader && lastRole != .leader {
            // Everyone gets a full failure timeout from the start of this leadership.
            let now = monotonicNanoseconds()
            lastHeard = [:]
            for id in node.confState.members where id != configuration.raftID { lastHeard[id] = now }
        }
        lastRole = soft.role
        lastLeader = soft.leader
        publishLeadership()
        for (i, transfer) in transfers.enumerated().reversed() where soft.leader == transfer.target {
            answer(transfer.completion, .success(()))
            transfers.remove(at: i)
        }
    }

    // MARK: Reads

    private func readStateArrived(_ state: ReadState) {
        guard state.context.count == 8 else { return }
        let key = state.context.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        reads[key]?.index = state.index
    }

    private func serveReads() {
        guard !reads.isEmpty else { return }
        let applied = raftStore.appliedIndex
        for (key, read) in reads {
            if let index = read.index, index <= applied {
                reads.removeValue(forKey: key)
                answer(read.completion, .success(index))
            }
        }
    }

    // MARK: Membership

    private func driveJoins(now: UInt64) {
        guard !joins.isEmpty else { return }
        guard node.softState.role == .leader else {
            for join in joins { answer(join.completion, .failure(.notLeader(leaderURL: leaderURL()))) }
            joins = []
            return
        }
        var i = 0
        while i < joins.count {
            if now > joins[i].deadline {
                answer(joins.remove(at: i).completion, .failure(.timeout))
                continue
            }
            let member = joins[i].member
            let conf = node.confState
            if conf.isMember(member.raftID) && raftStore.members().contains(where: { $0.raftID == member.raftID && $0.url == member.url }) {
                answer(joins.remove(at: i).completion, .success(()))  // already in: idempotent
                continue
            }
            if joins[i].directoryIndex == nil {
                if let position = try? node.propose(LogCommand.upsertMember(member).encoded()) {
                    joins[i].directoryIndex = position.index
                }
            } else if joins[i].directoryApplied && joins[i].confChangeIndex == nil {
                if conf.isMember(member.raftID) {
                    answer(joins.remove(at: i).completion, .success(()))
                    continue
                }
                // Enters as a Load Manager's silent replica: priority 0, promoted only when the
                // topology planner says so.
                let attributes = NodeAttributes(level: UInt8(clamping: member.level), priority: 0, autoPromote: false)
                if let position = try? node.proposeConfChange(.addLearner(member.raftID, attributes)) {
                    joins[i].confChangeIndex = position.index
                }  // else another change is pending: retried on the next tick
            }
            i += 1
        }
    }

    /// Shards other than 1: the leader mirrors the meta shard's configuration — or a moved
    /// shard's placement — one change at a time (see `MembershipMirror`): add learner, caught
    /// up, promote, hand leadership off when it is leaving, remove.
    private func reconcileMembership() {
        guard configuration.shard != 1, node.softState.role == .leader, transfers.isEmpty else { return }
        let store = raftStore.store
        let target = MembershipMirror.target(meta: store.metaConfState, placement: store.placement(shard: configuration.shard))
        let current = node.confState, me = configuration.raftID
        let status = node.status
        let change = MembershipMirror.nextChange(from: current, to: target, leader: me) { id in
            guard let progress = status.progress[id] else { return false }
            return progress.recentActive && progress.match + configuration.promotionLag >= status.lastIndex
        }
        if change == nil, MembershipMirror.handOff(from: current, to: target, leader: me) {
            if let next = current.voters.filter({ $0 != me && target.isVoter($0) })
                .max(by: { (status.progress[$0]?.match ?? 0) < (status.progress[$1]?.match ?? 0) }) {
                try? node.transferLeadership(to: next)
            }
            return
        }
        if let change {
            do {
                _ = try node.proposeConfChange(change)
                logger.info("shard membership step", metadata: [
                    "shard": "\(configuration.shard)", "change": "\(change.kind)", "node": "\(directory[change.nodeID]?.id ?? "\(change.nodeID)")",
                ])
            } catch {}  // one change at a time: retried once the pending one is applied
        }
    }

    private func refreshDirectory() {
        for member in raftStore.members() { directory[member.raftID] = member }
        updateTransportPeers()
    }

    /// Every node in the directory is a peer (the core decides whom to talk to); a joining
    /// node knows the directory from the join answer before the log tells it. The meta
    /// shard (1) owns the directory: other groups read it and leave the transport alone.
    private func updateTransportPeers() {
        guard configuration.shard == 1 else {
            for member in raftStore.store.members where directory[member.raftID] != member { directory[member.raftID] = member }
            return publishLeadership()
        }
        raftStore.store.publishMembers(Array(directory.values))
        var peers: [NodeID: String] = [:]
        for (id, member) in directory where id != configuration.raftID { peers[id] = member.url }
        transport.setPeers(peers)
        publishLeadership()
    }

    /// Tells request threads who leads (they route writes by it without asking this thread).
    private func publishLeadership() {
        let soft = node.softState
        let value = Leadership(
            leader: soft.leader, leaderURL: leaderURL(), isSelf: soft.role == .leader, term: node.hardState.term)
        replica?.leadership.withLock { $0 = value }
    }

    func leaderURL() -> String? {
        guard let leader = node.softState.leader else { return nil }
        if leader == configuration.raftID { return configuration.url }
        return directory[leader]?.url
    }

    // MARK: Snapshots

    /// Downloads the leader's image for a snapshot message on a helper thread, then steps it.
    private func startFetch(_ message: Message, snapshot: Snapshot, mailbox: Mailbox) {
        let token = String(decoding: snapshot.data, as: UTF8.self)
        guard fetching == nil else { return }  // one at a time; the leader resends
        guard let source = directory[message.from]?.url else {
            logger.warning("snapshot from an unknown node", metadata: ["from": "\(message.from)"])
            return
        }
        fetching = token
        let path = raftStore.incomingSnapshotPath(token: token)
        let clusterToken = self.clusterToken
        let logger = self.logger
        let progressBox = fetchProgressBox
        let fetcher = SnapshotFetcher(logger: logger)
        let shard = configuration.shard, me = configuration.raftID
        let runner = Thread {
            do {
                try fetcher.fetch(from: source, token: token, to: path, shard: shard, clusterToken: clusterToken, peer: me) { progress in
                    progressBox.value.withLock {
                        $0 = ReplicaStatus.SnapshotTransfer(token: token, direction: "receiving", bytes: progress.bytes,
                                                            total: progress.total, etaSeconds: progress.etaSeconds)
                    }
                }
                if !mailbox.push(.snapshotFetched(message)) { logger.warning("mailbox full: snapshot dropped") }
            } catch {
                logger.warning("snapshot download failed; the leader will resend", metadata: ["error": "\(error)"])
                _ = mailbox.push(.snapshotFetchFailed(token: token))
            }
        }
        runner.name = "snapshot-fetch"
        runner.start()
    }

    /// Keeps the log near `compactionThreshold` entries by trimming a bounded step at a time:
    /// one big DELETE would stall the Raft thread (tens of milliseconds seen in p99).
    private func maybeCompact() {
        let applied = raftStore.appliedIndex
        let first = (try? raftStore.firstIndex()) ?? applied
        guard applied > first, applied - first >= configuration.compactionThreshold else { return }
        let upTo = min(applied - configuration.keepEntries, first + Self.compactionStep)
        do {
            try raftStore.compact(keepingAfter: upTo)
            logger.debug("log compacted", metadata: ["up_to": "\(upTo)", "applied": "\(applied)"])
        } catch {
            logger.error("log compaction failed", metadata: ["error": "\(error)"])
        }
    }

    /// Entries dropped per compaction step.
    static let compactionStep: UInt64 = 512

    // MARK: Timeouts and status

    private func expire(now: UInt64) {
        if !pending.isEmpty {
            for (id, proposal) in pending where proposal.deadline <= now {
                pending.removeValue(forKey: id)
                proposalsByIndex.removeValue(forKey: proposal.index)
                answer(proposal.completion, .failure(.timeout))
            }
        }
        if !reads.isEmpty {
            for (key, read) in reads where read.deadline <= now {
                reads.removeValue(forKey: key)
                answer(read.completion, .failure(.timeout))
            }
        }
        if !controls.isEmpty {
            for (index, control) in controls where control.deadline <= now {
                controls.removeValue(forKey: index)
                answer(control.completion, .failure(.timeout))
            }
        }
        for (i, transfer) in transfers.enumerated().reversed() where transfer.deadline <= now {
            transfers.remove(at: i)
            answer(transfer.completion, .failure(.rejected("leadership transfer did not complete in time")))
        }
    }

    private func publish(into replica: Replica, mailbox: Mailbox) {
        let status = node.status
        var value = ReplicaStatus()
        value.role = status.role
        value.term = status.term
        value.commit = status.commit
        value.applied = raftStore.appliedIndex
        value.lastIndex = status.lastIndex
        value.firstIndex = status.firstIndex
        value.committedInTerm = status.role == .leader && status.commit > 0
            && ((try? raftStore.term(at: status.commit)) ?? 0) == status.term
        value.leaderID = status.leader.flatMap { directory[$0]?.id ?? ($0 == configuration.raftID ? configuration.nodeID : nil) }
        value.leaderURL = leaderURL()
        value.pendingProposals = pending.count
        let depth = mailbox.depth
        value.mailboxDepth = depth.inputs
        value.peerLaneDepth = depth.peer
        value.peerMessagesDropped = mailbox.droppedPeerMessages
        value.forwardedWaiting = replica.calls.count
        value.snapshotTransfer = fetchProgressBox.value.withLock { $0 }
        let conf = status.confState
        let now = monotonicNanoseconds()
        for id in conf.members {
            let member = directory[id]
            let progress = status.progress[id]
            let isSelf = id == configuration.raftID
            let caughtUp = isSelf || progress.map {
                $0.match > 0 && $0.match + 1 >= status.firstIndex && $0.match + configuration.promotionLag >= status.lastIndex
            } ?? false
            let heard = status.role == .leader && !isSelf ? lastHeard[id].map { now > $0 ? (now - $0) / 1_000_000 : 0 } : nil
            value.members.append(ReplicaStatus.MemberStatus(
                id: member?.id ?? (id == configuration.raftID ? configuration.nodeID : "\(id)"),
                raftID: id, url: member?.url ?? (id == configuration.raftID ? configuration.url : ""),
                level: member?.level ?? Int(conf.attributes(of: id).level),
                isVoter: conf.isVoter(id), isLearner: conf.isLearner(id),
                match: progress?.match, lag: progress.map { status.lastIndex > $0.match ? status.lastIndex - $0.match : 0 },
                replicationState: progress?.state.rawValue, priority: Int(conf.attributes(of: id).priority),
                sinceContactMilliseconds: heard, caughtUp: caughtUp, joinedAtIndex: member?.joinedAtIndex ?? 0))
        }
        replica.published.withLock { $0 = value }
    }

    private func replicaError(_ error: StorageError) -> ReplicaError {
        if case let .shardMismatch(_, current) = error { return .shardMismatch(current, owner: nil) }
        return .rejected("write refused: \(error)")
    }

    private func replicaError(_ error: RaftError) -> ReplicaError {
        switch error {
        case .notLeader: .notLeader(leaderURL: leaderURL())
        case .uncommittedBytesExceeded, .readIndexQueueFull: .overloaded("\(error)")
        case .transferInProgress: .notLeader(leaderURL: nil)
        default: .rejected("\(error)")
        }
    }
}

/// Progress of the snapshot download, written by the download thread.
final class TransferProgress: Sendable {
    let value = Mutex<ReplicaStatus.SnapshotTransfer?>(nil)
}
