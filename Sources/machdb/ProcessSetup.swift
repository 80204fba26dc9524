import Foundation
import Logging
import MicroHTTPD

/// What `serve` and `operator` both do when they start.
enum ProcessSetup {
    /// Blocks SIGTERM/SIGINT (see `Signals`) and sends log lines at `logLevel` and above to
    /// stderr. Call first, before any thread starts; `logLevel` was validated.
    static func start(logLevel: String) {
        Signals.block()
        let threshold = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = threshold
            return handler
        }
    }

    /// The server's HTTPS from PEM files (`--tls-cert`, `--tls-key`, and the CA that verifies
    /// client certificates); nil without a certificate: plain HTTP.
    static func serverTLS(certificate: String?, key: String?, trust: String? = nil) throws -> ServerConfiguration.TLS? {
        guard let certificate, let key else { return nil }
        return ServerConfiguration.TLS(keyPEM: try String(contentsOfFile: key, encoding: .utf8),
                                       certificatePEM: try String(contentsOfFile: certificate, encoding: .utf8),
                                       trustPEM: try trust.map { try String(contentsOfFile: $0, encoding: .utf8) })
    }
}
