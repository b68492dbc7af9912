import Testing

@testable import EngineIO

@Suite("Engine close reasons")
struct EngineCloseReasonTests {
    /// The strings Socket.IO reports as disconnect reasons, as the Node.js server words them.
    @Test(arguments: [
        (EngineCloseReason.serverClose, "forced server close"), (.clientClose, "client close"),
        (.transportClose, "transport close"), (.transportError, "transport error"), (.parseError, "parse error"),
        (.pingTimeout, "ping timeout"), (.serverShuttingDown, "server shutting down"),
    ])
    func reasonText(reason: EngineCloseReason, text: String) {
        #expect(reason.rawValue == text)
        #expect(EngineCloseReason(rawValue: text) == reason)
    }
}
