import CCurl
import CShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension MultiClient {
    /// Owns the multi handle and runs the I/O loop. Other threads only touch `shared` (under
    /// its mutex), the atomic counters and `curl_multi_wakeup`; everything else belongs to the
    /// I/O thread. All easy handles are removed from the multi handle before the loop exits;
    /// `deinit` frees the idle ones, then the multi handle (with its connection cache).
    final class Engine: @unchecked Sendable {
        struct Pending: Sendable {
            let request: ClientRequest
            let completion: @Sendable (Result<ClientResponse, CurlError>) -> Void
        }

        /// The bounded FIFO of submitted requests, and the stop flag.
        private struct Shared {
            var pending: [Pending] = []
            var head = 0
            var stopping = false
            var depth: Int { pending.count - head }

            /// Removes and returns up to `limit` requests, oldest first.
            mutating func take(_ limit: Int) -> [Pending] {
                let n = Swift.min(limit, depth)
                guard n > 0 else { return [] }
                let batch = Array(pending[head..<head + n])
                head += n
                if head == pending.count {
                    pending.removeAll(keepingCapacity: true)
                    head = 0
                } else if head >= 1_024 && head * 2 >= pending.count {
                    pending.removeFirst(head)
                    head = 0
                }
                return batch
            }
        }

        let configuration: Configuration
        let threadName: String
        /// Signalled by the I/O thread as its last step.
        let exit = ThreadExit()
        private let multi: UnsafeMutableRawPointer
        private let shared = Mutex(Shared())
        private let inFlightCount = Atomic<Int>(0)
        private let queuedCount = Atomic<Int>(0)

        // I/O thread only.
        /// Easy handle → its transfer, retained once (`passRetained`) until it completes.
        private var active: [UnsafeMutableRawPointer: Unmanaged<Transfer>] = [:]
        /// Reset easy handles, reused for the next transfers.
        private var idle: [EasyHandle] = []

        init(configuration: Configuration, threadName: String) throws(CurlError) {
            guard let multi = curl_multi_init() else {
                throw CurlError(code: -1, message: "curl_multi_init failed", url: "")
            }
            self.multi = multi
            self.configuration = configuration
            self.threadName = threadName
            // From here on a throw runs `deinit`, which frees the multi handle.
            let options: [(CURLMoption, Int)] = [
                (CURLMOPT_PIPELINING, Int(CURLPIPE_NOTHING)),  // HTTP/1.1 keep-alive, one request at a time
                (CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost),
                (CURLMOPT_MAX_TOTAL_CONNECTIONS, configuration.maxTotalConnections),
                (CURLMOPT_MAXCONNECTS, configuration.maxTotalConnections),
            ]
            for (option, value) in options {
                let code = machdb_curl_multi_setopt_long(multi, option, value)
                guard code == CURLM_OK else { throw Engine.multiError("curl_multi_setopt", code) }
            }
        }

        deinit {
            idle.removeAll()  // curl_easy_cleanup each (none is in the multi handle any more)
            let code = curl_multi_cleanup(multi)
            assert(code == CURLM_OK, "curl_multi_cleanup: \(code)")
        }

        var inFlight: Int { inFlightCount.load(ordering: .relaxed) }
        var queued: Int { queuedCount.load(ordering: .relaxed) }

        // MARK: - Any thread

        func submit(_ pending: Pending) -> Bool {
            let capacity = configuration.queueCapacity
            let accepted = shared.withLock { shared in
                guard !shared.stopping, shared.depth < capacity else { return false }
                shared.pending.append(pending)
                queuedCount.store(shared.depth, ordering: .relaxed)
                return true
            }
            if accepted { wake() }
            return accepted
        }

        func requestStop() {
            shared.withLock { $0.stopping = true }
            wake()
        }

        /// Interrupts `curl_multi_poll`. Thread-safe. If it fails, the poll times out within
        /// 100 ms and the loop picks the work up then.
        private func wake() { _ = curl_multi_wakeup(multi) }

        /// Starts the I/O thread. It holds the engine (retained once, released when it exits).
        func startThread() throws(CurlError) -> pthread_t {
            let context = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let code = pthread_create(&thread, nil, { argument in
                let engine = Unmanaged<Engine>.fromOpaque(argument!).takeRetainedValue()
                engine.run()
                return nil
            }, context.toOpaque())
            guard code == 0 else {
                context.release()
                throw CurlError(code: -1, message: "cannot start the I/O thread: \(String(cString: strerror(code)))", url: "")
            }
            return thread
        }

        // MARK: - I/O thread

        private func run() {
            _ = machdb_set_thread_name(String(decoding: threadName.utf8.prefix(15), as: UTF8.self))
            var failure: CurlError?
            while failure == nil {
                let room = configuration.maxConcurrentTransfers - active.count
                let (batch, stopping) = shared.withLock { shared in
                    let batch = shared.stopping ? [] : shared.take(room)
                    queuedCount.store(shared.depth, ordering: .relaxed)
                    return (batch, shared.stopping)
                }
                if stopping { break }
                for pending in batch { start(pending) }

                var running: Int32 = 0
                let performed = curl_multi_perform(multi, &running)
                guard performed == CURLM_OK else { failure = Engine.multiError("curl_multi_perform", performed); break }
                completeFinished()

                var ready: Int32 = 0
                let polled = curl_multi_poll(multi, nil, 0, 100, &ready)
                if polled != CURLM_OK { failure = Engine.multiError("curl_multi_poll", polled) }
            }
            // Shut down, or the multi handle broke: refuse new work, fail everything left.
            let left = shared.withLock { shared in
                shared.stopping = true
                let left = shared.take(shared.depth)
                queuedCount.store(0, ordering: .relaxed)
                return left
            }
            let reason = failure?.message ?? "client shut down"
            for (handle, context) in active {
                let removed = curl_multi_remove_handle(multi, handle)
                let transfer = context.takeRetainedValue()
                if removed == CURLM_OK { recycle(transfer.handle) }
                transfer.completion(.failure(CurlError(code: -1, message: reason, url: transfer.url)))
            }
            active.removeAll()
            inFlightCount.store(0, ordering: .relaxed)
            for pending in left {
                pending.completion(.failure(CurlError(code: -1, message: reason, url: pending.request.url)))
            }
            exit.signal()
        }

        /// Moves one request onto an easy handle in the multi handle, or completes it at once
        /// with the error that prevented that.
        private func start(_ pending: Pending) {
            let request = pending.request
            guard let handle = idle.popLast() ?? EasyHandle() else {
                pending.completion(.failure(CurlError(code: -1, message: "curl_easy_init failed", url: request.url)))
                return
            }
            let transfer = Transfer(request: request, completion: pending.completion, handle: handle)
            let configured = EasyRequest.configure(
                handle.raw, for: request, sink: Unmanaged.passUnretained(transfer.sink).toOpaque(),
                headers: transfer.headers, body: transfer.body,
                connectTimeoutMilliseconds: min(request.timeoutMilliseconds, configuration.connectTimeoutMilliseconds))
            guard configured == CURLE_OK else {
                recycle(handle)
                pending.completion(.failure(EasyRequest.error(configured, url: request.url)))
                return
            }
            let added = curl_multi_add_handle(multi, handle.raw)
            guard added == CURLM_OK else {
                recycle(handle)
                pending.completion(.failure(Engine.multiError("curl_multi_add_handle", added, url: request.url)))
                return
            }
            active[handle.raw] = Unmanaged.passRetained(transfer)
            inFlightCount.store(active.count, ordering: .relaxed)
        }

        /// Completes every transfer libcurl reports done.
        private func completeFinished() {
            var queuedMessages: Int32 = 0
            while let message = curl_multi_info_read(multi, &queuedMessages) {
                guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
                let result = message.pointee.data.result  // read before removing: that frees `message`
                guard let context = active.removeValue(forKey: handle) else { continue }
                inFlightCount.store(active.count, ordering: .relaxed)
                let removed = curl_multi_remove_handle(multi, handle)
                let transfer = context.takeRetainedValue()
                let outcome: Result<ClientResponse, CurlError> = result == CURLE_OK
                    ? .success(EasyRequest.response(of: handle, sink: transfer.sink))
                    : .failure(EasyRequest.error(result, url: transfer.url, handle: handle))
                // A handle that could not be removed is dropped: curl_easy_cleanup detaches it.
                if removed == CURLM_OK { recycle(transfer.handle) }
                transfer.completion(outcome)
            }
        }

        /// Resets a handle that is not in the multi handle (dropping its pointers into the
        /// finished transfer) and keeps it for the next one. Its connection stays in the
        /// multi handle's cache.
        private func recycle(_ handle: EasyHandle) {
            curl_easy_reset(handle.raw)
            idle.append(handle)
        }

        static func multiError(_ call: String, _ code: CURLMcode, url: String = "") -> CurlError {
            CurlError(code: -1, message: "\(call): \(String(cString: curl_multi_strerror(code)))", url: url)
        }
    }
}
