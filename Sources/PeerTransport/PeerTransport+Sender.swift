import Curl
import Logging
import RaftCore
import Sync

/// The loop of one peer's sender thread. Owns the peer's `HTTPClient` (one keep-alive
/// connection), which never leaves this thread.
struct Sender: Sendable {
    let link: PeerLink
    let configuration: TransportConfiguration
    let logger: Logger
    let callback: CallbackSlot
    let threads: ThreadTracker

    func run() {
        defer { threads.finished() }
        var client: HTTPClient?
        let baseBackoff = UInt64(configuration.backoffMilliseconds) * 1_000_000
        var backoff = baseBackoff
        let headers = requestHeaders()
        while true {
            let popped = link.queue.popBatch(max: configuration.queueCapacityPerPeer)
            if popped.isEmpty { return }  // closed and drained
            var start = 0
            while start < popped.count {
                if link.isStopped {
                    link.counters.withLock { $0.droppedFailed += UInt64(popped.count - start) }
                    return
                }
                let end = batchEnd(popped, from: start)
                let outcome = post(popped[start..<end], headers: headers, client: &client)
                if case .failure(let reason) = outcome {
                    recordFailure(reason, dropping: UInt64(popped.count - start))
                    callback.call(link.id)
                    guard link.pause(nanoseconds: backoff) else { return }
                    backoff = min(backoff * 2, baseBackoff * 16)
                    break
                }
                backoff = baseBackoff
                start = end
            }
        }
    }

    /// The end of the request that starts at `start`: as many messages as fit in
    /// `maxBatchBytes`, at least one.
    private func batchEnd(_ messages: [Message], from start: Int) -> Int {
        var end = start
        var bytes = 0
        while end < messages.count {
            let size = MessageBatch.estimatedSize(messages[end])
            if end > start && bytes + size > configuration.maxBatchBytes { break }
            bytes += size
            end += 1
        }
        return end
    }

    private func requestHeaders() -> [(name: String, value: String)] {
        var headers = [(name: "Content-Type", value: InternalRoutes.contentType)]
        if let authorization = InternalAuth.headerValue(clusterToken: configuration.clusterToken) {
            headers.append((name: "Authorization", value: authorization))
        }
        return headers
    }

    private enum Outcome { case success, failure(String) }

    private func post(_ batch: ArraySlice<Message>, headers: [(name: String, value: String)],
                      client: inout HTTPClient?) -> Outcome {
        let body = Message.encodeBatch(Array(batch))
        let request = ClientRequest(method: "POST", url: link.messagesURL, headers: headers, body: body,
                                    timeoutMilliseconds: configuration.requestTimeoutMilliseconds)
        let response: ClientResponse
        do throws(CurlError) {
            let active: HTTPClient
            if let client { active = client } else { active = try HTTPClient(); client = active }
            response = try active.perform(request)
        } catch {
            return .failure(error.description)
        }
        guard (200..<300).contains(response.status) else {
            return .failure("HTTP \(response.status): \(String(response.text.prefix(200)))")
        }
        let recovered: UInt64 = link.counters.withLock { counters in
            defer { counters.consecutiveFailures = 0 }
            counters.sentMessages += UInt64(batch.count)
            counters.sentBatches += 1
            counters.sentBytes += UInt64(body.count)
            return counters.consecutiveFailures
        }
        if recovered > 0 {
            logger.info("transport: peer \(link.id) reachable again after \(recovered) failed requests")
        }
        return .success
    }

    private func recordFailure(_ reason: String, dropping count: UInt64) {
        let consecutive: UInt64 = link.counters.withLock { counters in
            counters.failures += 1
            counters.consecutiveFailures += 1
            counters.droppedFailed += count
            counters.lastError = reason
            return counters.consecutiveFailures
        }
        if consecutive == 1 {
            logger.warning("transport: peer \(link.id) unreachable: \(reason) (\(count) messages dropped)")
        } else {
            logger.debug("transport: peer \(link.id) still unreachable (\(consecutive) in a row): \(reason)")
        }
    }
}
