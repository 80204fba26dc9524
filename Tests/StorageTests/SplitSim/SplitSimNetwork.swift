import RaftCore

/// SplitMix64: the simulation's only randomness, from the seed.
struct SimRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0 ..< bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) { values.swapAt(i, below(i + 1)) }
    }
}

/// One Raft message of one shard on its way.
struct SimPacket {
    var from: NodeID
    var to: NodeID
    var shard: Int
    var message: Message
    var due: Int
}

/// The simulated network: every message of every group, delivered at a random later step in
/// random order, or dropped. An isolated node neither sends nor receives; messages to a
/// lagging node are held back until its lag ends (then arrive together, in random order:
/// the child group's traffic may reach it before the parent's entries that split).
struct SimNetwork {
    var inFlight: [SimPacket] = []
    var dropRate = 0.0
    var duplicateRate = 0.0
    var maxDelay = 2
    /// Node → the step its partition ends.
    var isolated: [NodeID: Int] = [:]
    /// Node → the step until which messages to it are held back.
    var lagging: [NodeID: Int] = [:]
    private(set) var sent = 0
    private(set) var dropped = 0

    func cut(_ a: NodeID, _ b: NodeID, now: Int) -> Bool {
        (isolated[a].map { $0 > now } ?? false) || (isolated[b].map { $0 > now } ?? false)
    }

    mutating func send(_ messages: [Message], shard: Int, from: NodeID, now: Int, random: inout SimRandom) {
        for message in messages {
            sent += 1
            if cut(from, message.to, now: now) || random.chance(dropRate) {
                dropped += 1
                continue
            }
            var due = now + random.below(maxDelay + 1)
            if let until = lagging[message.to], until > now { due = max(due, until) }
            inFlight.append(SimPacket(from: from, to: message.to, shard: shard, message: message, due: due))
            if random.chance(duplicateRate) {
                inFlight.append(SimPacket(from: from, to: message.to, shard: shard, message: message, due: due + 1))
            }
        }
    }

    /// The packets due at `now`, in random order; a packet whose link is cut meanwhile is lost.
    mutating func take(now: Int, random: inout SimRandom) -> [SimPacket] {
        var due: [SimPacket] = []
        var kept: [SimPacket] = []
        for packet in inFlight {
            if packet.due > now { kept.append(packet) } else if cut(packet.from, packet.to, now: now) { dropped += 1 } else { due.append(packet) }
        }
        inFlight = kept
        random.shuffle(&due)
        return due
    }

    /// Ends every fault (the healing phase).
    mutating func heal() {
        dropRate = 0
        duplicateRate = 0
        isolated = [:]
        lagging = [:]
    }
}
