import Digest
import XCTest

final class SignatureHeaderTests: XCTestCase {
    private let secret = "s3cret"
    private let body = Array(#"{"a":1}"#.utf8)
    /// Computed independently (Python `hmac.new(b"s3cret", b'{"a":1}', hashlib.sha256)`).
    private let expected = "sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d"

    func testValue() {
        XCTAssertEqual(SignatureHeader.name, "X-Machdb-Signature")
        XCTAssertEqual(SignatureHeader.value(secret: secret, body: body), expected)
    }

    func testVerifyAcceptsTheRightHeader() {
        XCTAssertTrue(SignatureHeader.verify(expected, secret: secret, body: body))
        XCTAssertTrue(SignatureHeader.verify(" \(expected)\t", secret: secret, body: body))
        XCTAssertTrue(SignatureHeader.verify(SignatureHeader.value(secret: "", body: []), secret: "", body: []))
    }

    func testVerifyRejects() {
        let digits = String(expected.dropFirst("sha256=".count))
        let cases: [(String, String?, String, [UInt8])] = [
            ("missing header", nil, secret, body),
            ("empty header", "", secret, body),
            ("wrong secret", expected, "other", body),
            ("changed body", expected, secret, Array(#"{"a":2}"#.utf8)),
            ("empty body", expected, secret, []),
            ("no prefix", digits, secret, body),
            ("wrong prefix", "sha1=" + digits, secret, body),
            ("uppercase prefix", "SHA256=" + digits, secret, body),
            ("truncated hex", String(expected.dropLast()), secret, body),
            ("truncated by a byte", String(expected.dropLast(2)), secret, body),
            ("extra hex", expected + "00", secret, body),
            ("non-hex digit", String(expected.dropLast()) + "g", secret, body),
            ("one digit changed", String(expected.dropLast()) + (expected.hasSuffix("0") ? "1" : "0"), secret, body),
            ("two values", expected + "," + expected, secret, body),
        ]
        for (name, header, secret, body) in cases {
            XCTAssertFalse(SignatureHeader.verify(header, secret: secret, body: body), name)
        }
    }

    /// Decision: hex digits are case-insensitive (the MAC bytes are what is compared); the
    /// `sha256=` prefix is not.
    func testUppercaseHexIsAccepted() {
        let digits = String(expected.dropFirst("sha256=".count))
        XCTAssertTrue(SignatureHeader.verify("sha256=" + digits.uppercased(), secret: secret, body: body))
    }
}
