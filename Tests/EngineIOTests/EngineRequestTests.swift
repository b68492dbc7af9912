import HTTPTypes
import Testing

@testable import EngineIO

@Suite("Engine.IO request")
struct EngineRequestTests {
    private func request(_ target: String, headers: HTTPFields = [:], method: HTTPRequest.Method = .get) -> EngineRequest {
        EngineRequest(method: method, target: target, headers: headers, remoteAddress: nil)
    }

    private func headers(_ pairs: [(HTTPField.Name, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs { fields.append(HTTPField(name: name, value: value)) }
        return fields
    }

    // MARK: Target and query

    @Test func splitsPathAndQuery() {
        let request = request("/engine.io/?EIO=4&transport=polling&sid=abc123")
        #expect(request.path == "/engine.io/")
        #expect(request.query == ["EIO": "4", "transport": "polling", "sid": "abc123"])
        #expect(request.transport == "polling")
        #expect(request.sessionID == "abc123")
        #expect(request.method == .get)
        #expect(request.remoteAddress == nil)
    }

    @Test func targetWithoutQuery() {
        let request = request("/socket.io/", method: .post)
        #expect(request.path == "/socket.io/")
        #expect(request.query.isEmpty)
        #expect(request.transport == nil)
        #expect(request.sessionID == nil)
        #expect(request.method == .post)
    }

    @Test func emptyQuery() {
        let request = request("/engine.io/?")
        #expect(request.path == "/engine.io/")
        #expect(request.query.isEmpty)
    }

    @Test func decodesPercentEscapesAndPlus() {
        let request = request("/e/?name=a%20b+c&plus=%2B&utf8=%C3%A9%F0%9F%98%80&k%65y=v")
        #expect(request.query["name"] == "a b c")
        #expect(request.query["plus"] == "+")
        #expect(request.query["utf8"] == "é😀")
        #expect(request.query["key"] == "v")
    }

    @Test func keepsMalformedPercentEscapesAsTheyAre() {
        let request = request("/e/?bad=%zz&half=%4&tail=%")
        #expect(request.query["bad"] == "%zz")
        #expect(request.query["half"] == "%4")
        #expect(request.query["tail"] == "%")
    }

    @Test func keysWithoutValuesAndEmptyPairs() {
        let request = request("/e/?flag&&empty=&=orphan&a=b=c")
        #expect(request.query["flag"] == "")
        #expect(request.query["empty"] == "")
        #expect(request.query[""] == "orphan")
        #expect(request.query["a"] == "b=c")
        #expect(request.query.count == 4)
    }

    @Test func firstOccurrenceOfAKeyWins() {
        let request = request("/e/?sid=first&sid=second&transport=websocket&transport=polling")
        #expect(request.sessionID == "first")
        #expect(request.transport == "websocket")
    }

    @Test func splitIsUsableOnItsOwn() {
        let (path, query) = EngineRequest.split(target: "/a/b?x=1?y=2")
        #expect(path == "/a/b")
        #expect(query == ["x": "1?y=2"])
    }

    // MARK: Cookies

    @Test func readsCookiesFromOneHeader() {
        let request = request("/", headers: headers([(.cookie, "io=abc; other=1;last=x=y")]))
        #expect(request.cookie("io") == "abc")
        #expect(request.cookie("other") == "1")
        #expect(request.cookie("last") == "x=y")
        #expect(request.cookie("missing") == nil)
    }

    @Test func readsCookiesAcrossSeveralHeaders() {
        let request = request("/", headers: headers([(.cookie, "a=1"), (.cookie, "b=2; c=3")]))
        #expect(request.cookie("a") == "1")
        #expect(request.cookie("b") == "2")
        #expect(request.cookie("c") == "3")
    }

    @Test func cookieNamesMatchExactly() {
        let request = request("/", headers: headers([(.cookie, "xio=1; iox=2; io=3; IO=4")]))
        #expect(request.cookie("io") == "3")
        #expect(request.cookie("IO") == "4")
        #expect(request.cookie("i") == nil)
    }

    @Test func cookieEdgeCases() {
        let request = request("/", headers: headers([(.cookie, "empty=; novalue; spaced=  v")]))
        #expect(request.cookie("empty") == "")
        #expect(request.cookie("novalue") == nil)
        // Only the spaces before a pair are dropped; the value is kept as sent.
        #expect(request.cookie("spaced") == "  v")
    }

    @Test func noCookieHeader() {
        #expect(request("/").cookie("io") == nil)
    }

    // MARK: Other headers

    @Test func origin() {
        #expect(request("/", headers: headers([(.origin, "https://example.com")])).origin == "https://example.com")
        #expect(request("/").origin == nil)
    }

    @Test(arguments: [
        ("Bearer abc.def", "abc.def"),
        ("bearer token", "token"),
        ("BEARER token", "token"),
        ("Bearer   padded  ", "padded"),
        ("Bearer a b", "a b"),
    ])
    func bearerToken(header: String, token: String) {
        #expect(request("/", headers: headers([(.authorization, header)])).bearerToken == token)
    }

    @Test(arguments: ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearertoken", "Token abc", ""])
    func noBearerToken(header: String) {
        #expect(request("/", headers: headers([(.authorization, header)])).bearerToken == nil)
    }

    @Test func staticHelpersReadAnyHeaders() {
        let fields = headers([(.cookie, "io=abc; x=1"), (.authorization, "Bearer t0k")])
        #expect(EngineRequest.cookie("io", in: fields) == "abc")
        #expect(EngineRequest.cookie("nope", in: fields) == nil)
        #expect(EngineRequest.bearerToken(in: fields) == "t0k")
        #expect(EngineRequest.bearerToken(in: HTTPFields()) == nil)
    }

    @Test func noAuthorizationHeader() {
        #expect(request("/").bearerToken == nil)
    }
}
