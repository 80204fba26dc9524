/// The leader's window of unacknowledged `append` messages to one follower, bounded by
/// count and bytes (flow control). Each element is the last index a message carried.
struct Inflights {
    let capacity: Int
    let maxBytes: UInt64
    private var items: [(index: UInt64, bytes: UInt64)] = []
    private var head = 0
    private(set) var bytes: UInt64 = 0

    init(capacity: Int, maxBytes: UInt64) {
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    var count: Int { items.count - head }

    var isFull: Bool { count >= capacity || bytes >= maxBytes }

    mutating func add(index: UInt64, bytes size: UInt64) {
        items.append((index, size))
        bytes += size
    }

    /// Acknowledges every message whose last index is `<= index`.
    mutating func freeLE(_ index: UInt64) {
        while head < items.count, items[head].index <= index {
            bytes -= items[head].bytes
            head += 1
        }
        compact()
    }

    /// Frees the oldest message (a heartbeat response proves the follower is alive even
    /// though acknowledgements were lost).
    mutating func freeFirst() {
        guard head < items.count else { return }
        bytes -= items[head].bytes
        head += 1
        compact()
    }

    mutating func reset() {
        items.removeAll(keepingCapacity: true)
        head = 0
        bytes = 0
    }

    private mutating func compact() {
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}
