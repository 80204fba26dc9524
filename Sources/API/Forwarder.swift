import Curl
import Foundation
import Sync

/// Sends requests to other nodes (the leader) from a few threads of its own, each with a
/// keep-alive libcurl handle, so HTTP I/O threads never block. Bounded queue.
final class Forwarder: Sendable {
    typealias Completion = @Sendable (Result<ClientResponse, CurlError>) -> Void
    private struct Job: Sendable {
        let request: ClientRequest
        let completion: Completion
    }

    private let queue: BoundedQueue<Job>

    init(threads: Int, capacity: Int) {
        queue = BoundedQueue(capacity: capacity)
        for index in 0..<threads {
            let queue = self.queue
            let thread = Thread {
                guard let client = try? HTTPClient() else { return }
                while true {
                    guard let job = queue.popBatch(max: 1).first else { return }
                    do throws(CurlError) {
                        job.completion(.success(try client.perform(job.request)))
                    } catch {
                        job.completion(.failure(error))
                    }
                }
            }
            thread.name = "forward-\(index)"
            thread.start()
        }
    }

    /// Queues `request`; false when the queue is full.
    func send(_ request: ClientRequest, completion: @escaping Completion) -> Bool {
        queue.push(Job(request: request, completion: completion))
    }

    var depth: Int { queue.count }

    func close() { queue.close() }
}
