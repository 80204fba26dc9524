import JSON
import XCTest

final class JSONTests: XCTestCase {
    func testRoundTripKeepsValuesAndOrder() throws {
        let text = #"{"b":1,"a":[true,false,null,-2.5,"x\"y\\z\n"],"c":{"d":0.1,"e":"ü€😀"},"f":1e+20,"g":12345678901234}"#
        let value = try JSON.parse(text)
        XCTAssertEqual(value.members.map(\.key), ["b", "a", "c", "f", "g"])
        let again = try JSON.parse(value.encoded())
        XCTAssertEqual(value, again)
        XCTAssertEqual(value["c"]?["d"]?.doubleValue, 0.1)
        XCTAssertEqual(value["c"]?["e"]?.stringValue, "ü€😀")
        XCTAssertEqual(value["a"]?[4]?.stringValue, "x\"y\\z\n")
        XCTAssertEqual(value["g"]?.intValue, 12_345_678_901_234)
        XCTAssertTrue(value.text.contains(#""d":0.1"#), value.text)  // shortest real, not 0.10000000000000001
    }

    func testAnyTopLevelValue() throws {
        XCTAssertEqual(try JSON.parse("42").intValue, 42)
        XCTAssertEqual(try JSON.parse(#""s""#).stringValue, "s")
        XCTAssertTrue(try JSON.parse("null").isNull)
        XCTAssertEqual(try JSON.parse("[1,2]").count, 2)
    }

    func testInvalidInputIsRejectedWithPosition() {
        for bad in ["", "{", "{\"a\":}", "[1,]", "nul", "{\"a\":1}x", "\"\u{0001}\"", "{'a':1}", #"{"a":1,"a":2}"#] {
            XCTAssertThrowsError(try JSON.parse(bad), "accepted \(bad.debugDescription)") { error in
                guard case .invalid = error as? JSONError else { return XCTFail("\(error)") }
            }
        }
        XCTAssertThrowsError(try JSON.parse([0xff, 0xfe])) // not UTF-8
    }

    func testDepthLimit() throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        XCTAssertThrowsError(try JSON.parse(deep)) { error in
            XCTAssertEqual(error as? JSONError, .tooDeep(limit: JSON.defaultMaxDepth))
        }
        let ok = String(repeating: "{\"a\":", count: 64) + "1" + String(repeating: "}", count: 64)
        XCTAssertNoThrow(try JSON.parse(ok))
        let tooDeep = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        XCTAssertThrowsError(try JSON.parse(tooDeep))
        // Brackets inside strings do not count.
        XCTAssertNoThrow(try JSON.parse("[\"" + String(repeating: "[", count: 500) + "\"]", maxDepth: 1))
        XCTAssertEqual(Array("[[\"\\\"[\"]]".utf8).withUnsafeBytes { JSON.nestingDepth($0) }, 2)
    }

    func testBuildersAndEscaping() {
        let value: JSON = ["name": "a\u{0001}\"b", "n": 3, "ok": true, "list": [1, 2.5, nil]]
        XCTAssertEqual(value.text, #"{"name":"a\u0001\"b","n":3,"ok":true,"list":[1,2.5,null]}"#)
        XCTAssertEqual(JSON.double(.nan).text, "null")
        XCTAssertEqual(value.setting("n", to: nil).text, #"{"name":"a\u0001\"b","ok":true,"list":[1,2.5,null]}"#)
    }

    /// RFC 7396, Appendix A.
    func testMergePatchRFCExamples() throws {
        let cases: [(String, String, String)] = [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
            (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
            (#"{"a":"foo"}"#, "null", "null"),
            (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        ]
        for (target, patch, expected) in cases {
            let result = try JSON.parse(target).mergePatched(with: try JSON.parse(patch))
            XCTAssertEqual(result, try JSON.parse(expected), "\(target) + \(patch)")
        }
    }

    func testMergePatchDoesNotMutateTheOriginal() throws {
        let original = try JSON.parse(#"{"a":{"b":1}}"#)
        _ = original.mergePatched(with: try JSON.parse(#"{"a":{"b":2}}"#))
        XCTAssertEqual(original.text, #"{"a":{"b":1}}"#)
    }
}
