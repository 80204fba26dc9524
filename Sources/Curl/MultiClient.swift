import CCurl
import CShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Many HTTP/1.1 transfers at once on one I/O thread (libcurl's multi interface), with a
/// shared keep-alive connection pool per peer and no pipelining.
///
/// `submit` hands a request to a bounded queue and wakes the I/O thread, which starts up to
/// `maxConcurrentTransfers` of them and calls each completion exactly once, on that thread.
/// Lifecycle: `init` starts the thread; `shutdown()` fails what is left and joins it (call it
/// before dropping the client; `deinit` only does it as a safety net).
///
/// Errors: a transfer error keeps curl's code (7 = could not connect, 28 = timed out); errors
/// that do not come from libcurl (shut down, handle creation) have code -1. Should the multi
/// handle itself fail (`curl_multi_perform`/`curl_multi_poll`, e.g. out of memory), the client
/// stops as if shut down, failing every transfer with that error.
public final class MultiClient: @unchecked Sendable {
    /// Settings of one client. Defaults suit a gateway fanning out to a few dozen peers.
    public struct Configuration: Sendable {
        /// Transfers in flight at once (easy handles added to the multi handle); more wait in the queue.
        public var maxConcurrentTransfers = 512
        /// Requests submitted but not yet started; beyond it `submit` returns false.
        public var queueCapacity = 8_192
        /// Connections to one host:port (`CURLMOPT_MAX_HOST_CONNECTIONS`): the keep-alive pool per
        /// peer. Transfers beyond it wait inside libcurl for a free connection.
        public var maxConnectionsPerHost = 64
        /// Connections open at once, and kept in the idle cache (`CURLMOPT_MAX_TOTAL_CONNECTIONS`,
        /// `CURLMOPT_MAXCONNECTS`).
        public var maxTotalConnections = 1_024
        /// Upper bound on connecting; a request's own timeout bounds it further.
        public var connectTimeoutMilliseconds = 2_000

        public init() {}

        public func validate() throws(CurlError) {
            func check(_ ok: Bool, _ what: String) throws(CurlError) {
                if !ok { throw CurlError(code: -1, message: "invalid multi client configuration: \(what)", url: "") }
            }
            try check((1...100_000).contains(maxConcurrentTransfers), "max concurrent transfers must be 1...100000")
            try check((1...10_000_000).contains(queueCapacity), "queue capacity must be 1...10000000")
            try check((1...100_000).contains(maxConnectionsPerHost), "max connections per host must be 1...100000")
            try check((1...1_000_000).contains(maxTotalConnections), "max total connections must be 1...1000000")
            try check((1...3_600_000).contains(connectTimeoutMilliseconds), "connect timeout must be 1...3600000 ms")
        }
    }

    /// How long `shutdown()` waits for the I/O thread (a completion that blocks holds it up).
    static let joinTimeoutNanoseconds: UInt64 = 5_000_000_000

    public let configuration: Configuration
    private let engine: Engine
    private let thread: pthread_t
    private let stopped = Atomic<Bool>(false)

    /// Creates the multi handle and starts the I/O thread, named `name` (first 15 bytes).
    public init(configuration: Configuration = .init(), name: String = "curl-multi") throws(CurlError) {
        try configuration.validate()
        _ = curlGlobalInit
        self.configuration = configuration
        engine = try Engine(configuration: configuration, threadName: name)
        thread = try engine.startThread()
    }

    deinit { shutdown() }

    /// Queues the request; `completion` runs exactly once on the I/O thread (keep it short;
    /// never block in it). Returns false (completion not called) when the queue is full or
    /// the client is shut down. The request's `timeoutMilliseconds` counts from when it leaves
    /// the queue (including any wait inside libcurl for a free connection to its host).
    public func submit(_ request: ClientRequest, completion: @escaping @Sendable (Result<ClientResponse, CurlError>) -> Void) -> Bool {
        engine.submit(Engine.Pending(request: request, completion: completion))
    }

    /// Transfers running (started and not yet completed).
    public var inFlight: Int { engine.inFlight }

    /// Requests waiting to start.
    public var queued: Int { engine.queued }

    /// Stops: transfers still running or queued complete with a `CurlError` ("client shut
    /// down", code -1), later submissions are refused, and the I/O thread is joined (waiting at
    /// most 5 s for a completion that blocks). Idempotent. Called from a completion (on the I/O
    /// thread) it returns at once; the remaining completions run right after that one returns.
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        engine.requestStop()
        if pthread_equal(pthread_self(), thread) != 0 {
            _ = pthread_detach(thread)  // cannot join itself; it exits after this completion
            return
        }
        let deadline = monotonicNow() + MultiClient.joinTimeoutNanoseconds
        if engine.exit.wait(untilNanoseconds: deadline) {
            _ = pthread_join(thread, nil)  // it has signalled its last step: returns at once
        } else {
            _ = pthread_detach(thread)  // a completion blocks; the thread keeps the engine alive
        }
    }
}

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC), the clock `ThreadExit` waits on.
func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
