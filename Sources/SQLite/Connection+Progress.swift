import CSQLite

/// Holds the Swift closure behind a progress handler. The connection keeps it alive for as
/// long as SQLite may call it, and passes it to C unretained.
final class ProgressHandler {
    let shouldAbort: () -> Bool
    init(_ shouldAbort: @escaping () -> Bool) { self.shouldAbort = shouldAbort }
}

extension Connection {
    /// Calls `shouldAbort` every `instructions` virtual-machine instructions while a statement
    /// runs, on the thread running it; returning true stops the statement with SQLITE_INTERRUPT.
    /// Replaces any earlier handler. Keep `shouldAbort` cheap (a clock or flag read).
    public func setProgressHandler(every instructions: Int32, _ shouldAbort: @escaping () -> Bool) {
        let handler = ProgressHandler(shouldAbort)
        // Non-capturing C callback: the context travels through the void* argument.
        let callback: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { context in
            guard let context else { return 0 }
            return Unmanaged<ProgressHandler>.fromOpaque(context).takeUnretainedValue().shouldAbort() ? 1 : 0
        }
        sqlite3_progress_handler(handle, max(1, instructions), callback, Unmanaged.passUnretained(handler).toOpaque())
        progressHandler = handler  // keeps it alive; the previous one is released after the swap
    }

    /// Removes the progress handler.
    public func removeProgressHandler() {
        sqlite3_progress_handler(handle, 0, nil, nil)
        progressHandler = nil
    }
}
