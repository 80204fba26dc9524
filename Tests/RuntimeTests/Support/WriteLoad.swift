import Foundation
import RaftCore
import Replica
import Storage
import Sync
import Synchronization

/// Every write a test attempted, by sequence number, and how it ended. Write `seq` puts the
/// document `docs/<prefix>-<seq>` with the body `{"seq":<seq>}` (plus `padding` bytes of filler).
final class Ledger: Sendable {
    enum Status: Sendable {
        case pending
        /// Acknowledged: applied at `index` (by the leader `servedBy`).
        case acked(index: UInt64, servedBy: String)
        case failed(ReplicaError)
    }

    static let collection = "docs"
    let prefix: String
    let padding: Int
    private let entries = Mutex<[Int: Status]>([:])

    init(prefix: String, padding: Int = 0) {
        self.prefix = prefix
        self.padding = padding
    }

    func key(_ seq: Int) -> String { "\(prefix)-\(seq)" }

    func body(_ seq: Int) -> [UInt8] {
        padding == 0 ? Array(#"{"seq":\#(seq)}"#.utf8) : Array(#"{"seq":\#(seq),"pad":"\#(String(repeating: "x", count: padding))"}"#.utf8)
    }

    func command(_ seq: Int) -> WriteCommand {
        WriteCommand(operations: [.put(collection: Self.collection, id: key(seq), contentType: "application/json",
                                       body: body(seq), isJSON: true, precondition: .none)],
                     timestampMilliseconds: 1_700_000_000_000 + Int64(seq))
    }

    func begin(_ seq: Int) { entries.withLock { $0[seq] = .pending } }

    func finish(_ seq: Int, _ result: Result<(index: UInt64, servedBy: String), ReplicaError>) {
        entries.withLock { entries in
            switch result {
            case let .success(done): entries[seq] = .acked(index: done.index, servedBy: done.servedBy)
            case let .failure(error): entries[seq] = .failed(error)
            }
        }
    }

    /// Proposes write `seq` at `replica` (which names itself `name` in acknowledgements).
    func propose(_ seq: Int, at replica: Replica, named name: String, then: @escaping @Sendable () -> Void = {}) {
        begin(seq)
        replica.propose(command(seq)) { [self] result in
            finish(seq, result.flatMap { result in
                guard result.outcomes.count == 1, case .written = result.outcomes[0] else {
                    return .failure(.rejected("unexpected outcome \(result.outcomes)"))
                }
                return .success((index: result.index, servedBy: name))
            })
            then()
        }
    }

    /// Forwards write `seq` from `replica` to the leader `leader`.
    func forward(_ seq: Int, from replica: Replica, to leader: NodeID, then: @escaping @Sendable () -> Void = {}) {
        begin(seq)
        replica.forward(command(seq), to: leader) { [self] result in
            finish(seq, result.map { (index: $0.result.index, servedBy: $0.servedBy) })
            then()
        }
    }

    var all: [Int: Status] { entries.withLock { $0 } }
    var pending: Int { entries.withLock { $0.values.filter { if case .pending = $0 { true } else { false } }.count } }

    /// Acknowledged writes: sequence number → index.
    var acked: [Int: UInt64] {
        entries.withLock { entries in
            var out: [Int: UInt64] = [:]
            for (seq, status) in entries { if case let .acked(index, _) = status { out[seq] = index } }
            return out
        }
    }

    /// Counts by outcome, for the test's log line.
    var summary: String {
        var acked = 0, timeouts = 0, failed: [String: Int] = [:], pending = 0
        for status in all.values {
            switch status {
            case .acked: acked += 1
            case .pending: pending += 1
            case .failed(.timeout): timeouts += 1
            case let .failed(error): failed["\(error)".prefix(40).description, default: 0] += 1
            }
        }
        return "\(acked) acknowledged, \(timeouts) timed out, \(pending) pending, failed: \(failed)"
    }
}

/// A replica and the node name it answers for (Sendable, for threads).
struct Target: Sendable {
    let name: String
    let raftID: NodeID
    let replica: Replica
}

/// Keeps writing in the background: at most `window` writes in flight, each proposed at the
/// node that believes it leads, every `forwardEvery`-th one forwarded from a follower instead
/// (through that follower's view of the leader). Nodes in `avoid` are never used.
final class Writer: Sendable {
    let ledger: Ledger
    private let targets: [Target]
    private let window: DispatchSemaphore
    private let forwardEvery: Int
    private let pauseMicroseconds: UInt32
    private let avoided = Mutex<Set<String>>([])
    private let stopping = Atomic<Bool>(false)
    private let finished = Outcome<Int>()

    init(ledger: Ledger, targets: [Target], window: Int = 8, forwardEvery: Int = 3, pauseMicroseconds: UInt32 = 1_000) {
        self.ledger = ledger
        self.targets = targets
        self.window = DispatchSemaphore(value: window)
        self.forwardEvery = forwardEvery
        self.pauseMicroseconds = pauseMicroseconds
    }

    var avoid: Set<String> {
        get { avoided.withLock { $0 } }
        set { avoided.withLock { $0 = newValue } }
    }

    func start() {
        let thread = Thread { [self] in finished.set(.success(run())) }
        thread.name = "test-writer"
        thread.start()
    }

    private func run() -> Int {
        var seq = 0
        while !stopping.load(ordering: .relaxed) {
            guard window.wait(timeout: .now() + .milliseconds(50)) == .success else { continue }
            let avoid = self.avoid
            let usable = targets.filter { !avoid.contains($0.name) }
            guard let leader = usable.first(where: { $0.replica.leader.isSelf }) else {
                window.signal()
                usleep(5_000)  // no leader (election): wait
                continue
            }
            seq += 1
            let window = self.window
            let followers = usable.filter { $0.name != leader.name }
            if forwardEvery > 0, seq % forwardEvery == 0, !followers.isEmpty {
                let via = followers[seq / forwardEvery % followers.count]
                if let known = via.replica.leader.leader {
                    ledger.forward(seq, from: via.replica, to: known) { window.signal() }
                } else {
                    ledger.propose(seq, at: leader.replica, named: leader.name) { window.signal() }
                }
            } else {
                ledger.propose(seq, at: leader.replica, named: leader.name) { window.signal() }
            }
            if pauseMicroseconds > 0 { usleep(pauseMicroseconds) }
        }
        return seq
    }

    /// Stops writing and waits for every write in flight to end (each has a deadline).
    /// Returns how many were attempted; throws when some are still pending after `seconds`.
    @discardableResult
    func stop(seconds: Double = 10) throws -> Int {
        stopping.store(true, ordering: .relaxed)
        guard case let .success(count)? = finished.wait(seconds: seconds) else { throw HarnessError("the writer did not stop") }
        try waitFor("every write in flight to end (\(ledger.summary))", seconds: seconds) { ledger.pending == 0 }
        return count
    }
}

/// Samples every node's view of leadership every 2 ms: which nodes claimed to lead in which
/// term (Raft's election safety: at most one per term) and the highest term seen.
final class LeaderMonitor: Sendable {
    private let targets: [Target]
    private let state = Mutex<(leaders: [UInt64: Set<String>], terms: [String: Set<UInt64>])>(([:], [:]))
    private let stopping = Atomic<Bool>(false)
    private let finished = Outcome<Int>()

    init(targets: [Target]) {
        self.targets = targets
        let thread = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                sample()
                usleep(2_000)
            }
            finished.set(.success(0))
        }
        thread.name = "test-monitor"
        thread.start()
    }

    private func sample() {
        let views = targets.map { ($0.name, $0.replica.leader) }
        state.withLock { state in
            for (name, view) in views {
                state.terms[name, default: []].insert(view.term)
                if view.isSelf { state.leaders[view.term, default: []].insert(name) }
            }
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        _ = finished.wait(seconds: 5)
    }

    /// Nodes that claimed leadership, by term.
    var leaders: [UInt64: Set<String>] { state.withLock { $0.leaders } }
    /// Terms each node was seen in.
    var terms: [String: Set<UInt64>] { state.withLock { $0.terms } }

    /// Terms in which more than one node claimed to lead (must be empty).
    var violations: [UInt64: Set<String>] { leaders.filter { $0.value.count > 1 } }
}
