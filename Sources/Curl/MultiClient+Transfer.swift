import CCurl
import CShims

extension MultiClient {
    /// One transfer in flight: owns everything libcurl points into while it runs (the
    /// response sink, the header list, a copy of the body) and the completion. Handed to the
    /// engine's table with `passRetained` and released exactly once, when it completes or
    /// is failed at shutdown — after its handle was removed from the multi handle.
    final class Transfer {
        let url: String
        let completion: @Sendable (Result<ClientResponse, CurlError>) -> Void
        let handle: EasyHandle
        let sink = ResponseSink()
        let headers: HeaderList
        /// A stable copy of the request body (`CURLOPT_POSTFIELDS` points into it).
        let body: UnsafeRawBufferPointer
        private let bodyStorage: UnsafeMutableRawBufferPointer

        init(request: ClientRequest, completion: @escaping @Sendable (Result<ClientResponse, CurlError>) -> Void,
             handle: EasyHandle) {
            url = request.url
            self.completion = completion
            self.handle = handle
            headers = HeaderList(for: request)
            let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(request.body.count, 1), alignment: 1)
            request.body.withUnsafeBytes { storage.copyMemory(from: $0) }
            bodyStorage = storage
            body = UnsafeRawBufferPointer(rebasing: storage[0..<request.body.count])
        }

        deinit { bodyStorage.deallocate() }
    }

    /// Owns one libcurl easy handle; `curl_easy_cleanup` in `deinit`.
    final class EasyHandle {
        let raw: UnsafeMutableRawPointer

        init?() {
            guard let raw = curl_easy_init() else { return nil }
            self.raw = raw
        }

        deinit { curl_easy_cleanup(raw) }
    }
}
