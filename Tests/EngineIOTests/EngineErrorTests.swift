import Foundation
import HTTPTypes
import Testing

@testable import EngineIO

@Suite("Engine.IO request errors")
struct EngineErrorTests {
    /// Codes, messages and statuses of the Node.js reference server.
    @Test(arguments: [
        (EngineError.unknownTransport, 0, "Transport unknown", HTTPResponse.Status.badRequest),
        (.unknownSession, 1, "Session ID unknown", .badRequest),
        (.badHandshakeMethod, 2, "Bad handshake method", .badRequest),
        (.badRequest, 3, "Bad request", .badRequest),
        (.forbidden(), 4, "Forbidden", .forbidden),
        (.unsupportedProtocolVersion, 5, "Unsupported protocol version", .badRequest),
    ])
    func codeMessageStatusAndBody(error: EngineError, code: Int, message: String, status: HTTPResponse.Status) {
        #expect(error.code == code)
        #expect(error.message == message)
        #expect(error.status == status)
        #expect(error.body == #"{"code":\#(code),"message":"\#(message)"}"#)
    }

    @Test func statusCodesAre400And403() {
        #expect(EngineError.badRequest.status.code == 400)
        #expect(EngineError.forbidden().status.code == 403)
        #expect(EngineError.forbidden(message: "nope").status.code == 403)
    }

    @Test func forbiddenCarriesTheApplicationMessage() {
        let error = EngineError.forbidden(message: "Not allowed here")
        #expect(error.code == 4)
        #expect(error.message == "Not allowed here")
        #expect(error.body == #"{"code":4,"message":"Not allowed here"}"#)
        #expect(error != .forbidden())
        #expect(EngineError.forbidden() == .forbidden(message: "Forbidden"))
    }

    @Test func bodyEscapesTheMessageAsJSON() {
        let error = EngineError.forbidden(message: "say \"hi\"\\\n\r\t\u{01}\u{1F}é😀/")
        #expect(error.body == #"{"code":4,"message":"say \"hi\"\\\n\r\t\u0001\u001fé😀/"}"#)
    }

    @Test func everyBodyIsValidJSONWithCodeAndMessage() throws {
        let errors: [EngineError] = [
            .unknownTransport, .unknownSession, .badHandshakeMethod, .badRequest, .forbidden(),
            .forbidden(message: "tab\there \u{0}"), .unsupportedProtocolVersion,
        ]
        for error in errors {
            let object = try JSONSerialization.jsonObject(with: Data(error.body.utf8)) as? [String: Any]
            #expect(object?["code"] as? Int == error.code)
            #expect(object?["message"] as? String == error.message)
        }
    }

    @Test func quotesEveryControlCharacter() {
        for value in UInt32(0)..<0x20 {
            let scalar = Unicode.Scalar(value)!
            let quoted = JSONText.quoted(String(Character(scalar)))
            let expected: String
            switch value {
            case 0x0A: expected = #""\n""#
            case 0x0D: expected = #""\r""#
            case 0x09: expected = #""\t""#
            default: expected = "\"\\u00" + (value < 0x10 ? "0" : "") + String(value, radix: 16) + "\""
            }
            #expect(quoted == expected, "U+\(String(value, radix: 16))")
        }
        #expect(JSONText.quoted("") == "\"\"")
        #expect(JSONText.quoted("\u{7F}") == "\"\u{7F}\"")
    }
}
