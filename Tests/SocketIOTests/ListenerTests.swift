import Testing

@testable import SocketIO

/// The listener lists behind `on`, `once`, `off`, `prependAny` (without sockets).
@Suite("Listener lists")
struct ListenerTests {
    private typealias Entry = Registered<String>

    @Test("take hands every entry out and drops the once ones")
    func takeDropsOnceEntries() {
        var list: [Entry] = [Entry("a"), Entry("b", once: true), Entry("c")]
        let taken = list.take().map(\.handler)
        #expect(taken == ["a", "b", "c"])
        #expect(list.map(\.handler) == ["a", "c"])
        let takenAgain = list.take().map(\.handler)
        #expect(takenAgain == ["a", "c"])
        #expect(list.map(\.handler) == ["a", "c"])
    }

    @Test("remove takes out the entry of that listener only, once")
    func removeByListener() {
        let first = Entry("a")
        let second = Entry("a")
        var list = [first, second]
        #expect(first.listener != second.listener)
        let removedSecond = list.remove(second.listener)
        #expect(removedSecond)
        #expect(list.map(\.listener) == [first.listener])
        let removedAgain = list.remove(second.listener)
        #expect(!removedAgain)
        let removedFirst = list.remove(first.listener)
        #expect(removedFirst)
        #expect(list.isEmpty)
    }

    @Test("listeners are distinct across lists")
    func listenersAreUnique() {
        let listeners = (0..<1000).map { _ in Entry("x").listener }
        #expect(Set(listeners).count == 1000)
    }

    @Test("a middleware's error reaches the client as message and data")
    func refusalPayload() {
        #expect(PacketRefusal.payload(for: PacketRefusal("no", data: ["code": 7])) == ["message": "no", "data": ["code": 7]])
        #expect(PacketRefusal.payload(for: PacketRefusal("no")) == ["message": "no"])
        struct Odd: Error, CustomStringConvertible { var description: String { "odd" } }
        #expect(PacketRefusal.payload(for: Odd()) == ["message": "odd"])
    }

    @Test("a broadcast's acks: complete gives the responses, incomplete throws them")
    func broadcastAcks() throws {
        #expect(try BroadcastAcks(responses: [1, 2], complete: true).get() == [1, 2])
        #expect(throws: AckTimeout(responses: [1])) { try BroadcastAcks(responses: [1], complete: false).get() }
    }
}
