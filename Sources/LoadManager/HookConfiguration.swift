/// Settings of the operator-hook sender. Defaults suit an operator on the same network.
public struct HookConfiguration: Sendable {
    /// Whole-request timeout (connect + send + answer) of one POST.
    public var timeoutMilliseconds: Int = 5_000
    /// Pause after the first failed attempt; doubles with each further failure.
    public var initialBackoffMilliseconds: Int = 500
    /// Longest pause between two attempts.
    public var maxBackoffMilliseconds: Int = 60_000
    /// Random spread of each pause, as a fraction: 0.2 makes a pause of `d` anywhere in
    /// `d × [0.8, 1.2]` (never above `maxBackoffMilliseconds`), so many Load Managers that
    /// failed together do not retry together.
    public var jitter: Double = 0.2
    /// Longest `stop()` waits for the sender thread (an attempt in flight runs to its timeout).
    public var stopTimeoutMilliseconds: Int = 10_000

    public init() {}

    public func validate() throws(OutboxError) {
        func check(_ ok: Bool, _ what: String) throws(OutboxError) {
            if !ok { throw .invalidConfiguration(what) }
        }
        try check((10...600_000).contains(timeoutMilliseconds), "hook timeout must be 10...600000 ms")
        try check((1...3_600_000).contains(initialBackoffMilliseconds), "initial backoff must be 1...3600000 ms")
        try check((initialBackoffMilliseconds...86_400_000).contains(maxBackoffMilliseconds),
                  "max backoff must be at least the initial backoff and at most a day")
        try check(jitter >= 0 && jitter < 1, "jitter must be in [0, 1)")
        try check((1...600_000).contains(stopTimeoutMilliseconds), "stop timeout must be 1...600000 ms")
    }
}
