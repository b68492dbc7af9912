import Testing

@testable import EngineIO

@Suite("Session quota")
struct SessionQuotaTests {
    @Test func sessionsPerAddressStopAtTheCapAndComeBackWhenReleased() {
        var quota = SessionQuota(limits: SessionLimits(perAddress: 2))
        #expect(quota.reserve(address: "10.0.0.1", identity: nil) == nil)
        #expect(quota.reserve(address: "10.0.0.1", identity: nil) == nil)
        #expect(quota.reserve(address: "10.0.0.1", identity: nil) == .address)
        #expect(quota.reserve(address: "10.0.0.2", identity: nil) == nil)
        quota.release(address: "10.0.0.1", identity: nil)
        #expect(quota.reserve(address: "10.0.0.1", identity: nil) == nil)
    }

    @Test func aRefusalTakesNoSlotAtAll() {
        var quota = SessionQuota(limits: SessionLimits(perAddress: 5, perIdentity: 1))
        #expect(quota.reserve(address: "a", identity: "u") == nil)
        #expect(quota.reserve(address: "a", identity: "u") == .identity)
        #expect(quota.perAddress["a"] == 1, "the refused handshake must not hold an address slot")
    }

    @Test func releasedCountsAreForgotten() {
        var quota = SessionQuota(limits: SessionLimits(perAddress: 3, perIdentity: 3))
        _ = quota.reserve(address: "a", identity: "u")
        quota.release(address: "a", identity: "u")
        #expect(quota.perAddress.isEmpty && quota.perIdentity.isEmpty)
        quota.release(address: "a", identity: "u")
        #expect(quota.perAddress.isEmpty, "an extra release must not go negative")
    }

    @Test func withoutLimitsNothingIsCounted() {
        var quota = SessionQuota(limits: SessionLimits())
        for _ in 0..<100 { #expect(quota.reserve(address: "a", identity: "u") == nil) }
        #expect(quota.perAddress.isEmpty && quota.perIdentity.isEmpty)
    }

    @Test func refusalsTellTheClientWhich() {
        #expect(SessionQuota.Refusal.address.error == .forbidden(message: "Too many connections from this address"))
        #expect(SessionQuota.Refusal.identity.error == .forbidden(message: "Too many connections for this account"))
    }

    @Test func aReservationGivesItsSlotBackExactlyOnce() {
        final class Counter: @unchecked Sendable { var released = 0 }
        let counter = Counter()
        let pending = SessionReservation(address: "a", identity: nil) { _, _ in counter.released += 1 }
        pending.releaseIfPending()
        pending.release()
        #expect(counter.released == 1)

        let adopted = SessionReservation(address: "a", identity: nil) { _, _ in counter.released += 1 }
        adopted.adopt()
        adopted.releaseIfPending()  // the connection closed, but the session holds the slot
        #expect(counter.released == 1)
        adopted.release()  // the session ended
        adopted.release()
        #expect(counter.released == 2)
    }

    @Test func logsShowOnlyTheStartOfASid() {
        let id = SessionID.make()
        #expect(SessionID.redacted(id) == id.prefix(6) + "…")
        #expect(!SessionID.redacted(id).contains(id))
        // An instance tag stays readable; the random part is cut as before.
        #expect(SessionID.redacted("b7." + id) == "b7." + id.prefix(6) + "…")
        #expect(SessionID.redacted("b7.abc") == "b7.…")
    }
}
