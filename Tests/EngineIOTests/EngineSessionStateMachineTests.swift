import NIOCore
import Testing

@testable import EngineIO

/// Plain unit tests of the session state machine: events in, actions out, no sockets.
@Suite("Engine session state machine")
struct EngineSessionStateMachineTests {
    typealias Machine = EngineSessionStateMachine

    // MARK: Fixtures

    /// A polling session whose handshake has been answered.
    private func pollingMachine() -> Machine {
        var machine = Machine(transport: .polling)
        _ = machine.opened()
        return machine
    }

    /// A polling session with a GET held under the returned id.
    private func pollingMachineWithHeldPoll() -> (Machine, Machine.PollID) {
        var machine = pollingMachine()
        let actions = machine.pollRequested()
        guard case .holdPoll(let id) = actions.first, actions.count == 1 else {
            Issue.record("expected a single holdPoll, got \(actions)")
            return (machine, 0)
        }
        return (machine, id)
    }

    /// A polling session whose WebSocket answered the probe (no GET held); the pong is written.
    private func upgradingMachine() -> Machine {
        var machine = pollingMachine()
        _ = machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .websocket)
        _ = machine.webSocketWriteCompleted()
        return machine
    }

    /// A session that upgraded to WebSocket.
    private func upgradedMachine() -> Machine {
        var machine = upgradingMachine()
        _ = machine.packetReceived(EnginePacket(.upgrade), via: .websocket)
        return machine
    }

    private func bytes(_ values: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: values) }

    // MARK: Handshake and initial state

    @Test func handshakeOverPollingSchedulesPing() {
        var machine = Machine(transport: .polling)
        #expect(machine.state == .polling(pendingPoll: nil))
        #expect(machine.transport == .polling)
        #expect(!machine.isClosed)
        #expect(machine.opened() == [.schedulePing])
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func handshakeOverWebSocketSchedulesPing() {
        var machine = Machine(transport: .websocket)
        #expect(machine.state == .websocket)
        #expect(machine.transport == .websocket)
        #expect(machine.opened() == [.schedulePing])
        #expect(machine.state == .websocket)
    }

    // MARK: Long polling

    @Test func pollIsHeldThenAnsweredBySend() {
        var machine = pollingMachine()
        let hold = machine.pollRequested()
        #expect(hold == [.holdPoll(1)])
        #expect(machine.state == .polling(pendingPoll: 1))

        let answer = machine.send([.message("hello"), .message("world")])
        #expect(answer == [.answerPoll(1, [.message("hello"), .message("world")])])
        #expect(machine.state == .polling(pendingPoll: nil))

        // Nothing is left behind: the next GET waits again.
        #expect(machine.pollRequested() == [.holdPoll(2)])
    }

    @Test func bufferedPacketsAnswerThePollImmediatelyInOrder() {
        var machine = pollingMachine()
        #expect(machine.send([.message("a")]) == [])
        #expect(machine.send([.message("b"), .message(bytes([1, 2]))]) == [])
        #expect(machine.state == .polling(pendingPoll: nil))

        let answer = machine.pollRequested()
        #expect(answer == [.answerPoll(1, [.message("a"), .message("b"), .message(bytes([1, 2]))])])
        #expect(machine.state == .polling(pendingPoll: nil))
        #expect(machine.pollRequested() == [.holdPoll(2)])
    }

    @Test func aPollCarriesAtMostSixteenPackets() {
        let packets = (0..<20).map { EnginePacket.message("\($0)") }
        var machine = pollingMachine()
        #expect(Machine.maximumPacketsPerPoll == 16)
        #expect(machine.send(packets) == [])
        #expect(machine.pollRequested() == [.answerPoll(1, Array(packets[0..<16]))])
        #expect(machine.pollRequested() == [.answerPoll(2, Array(packets[16...]))])
        #expect(machine.pollRequested() == [.holdPoll(3)])
    }

    @Test func sendToAHeldPollLeavesTheExcessForTheNextPoll() {
        let packets = (0..<40).map { EnginePacket.message("\($0)") }
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.send(packets) == [.answerPoll(held, Array(packets[0..<16]))])
        #expect(machine.state == .polling(pendingPoll: nil))
        #expect(machine.pollRequested() == [.answerPoll(held + 1, Array(packets[16..<32]))])
        #expect(machine.pollRequested() == [.answerPoll(held + 2, Array(packets[32...]))])
        #expect(machine.pollRequested() == [.holdPoll(held + 3)])
    }

    @Test func webSocketWritesAreNotLimitedToSixteenPackets() {
        let packets = (0..<40).map { EnginePacket.message("\($0)") }
        var machine = upgradingMachine()
        #expect(machine.send(packets) == [])
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [.writeWebSocket(packets)])
    }

    @Test func pollIDsAreDistinct() {
        var machine = pollingMachine()
        var seen: Set<Machine.PollID> = []
        for round in 0..<50 {
            let actions = machine.pollRequested()
            guard case .holdPoll(let id) = actions.first else {
                Issue.record("round \(round): expected holdPoll, got \(actions)")
                return
            }
            #expect(seen.insert(id).inserted)
            #expect(machine.send([.message("\(round)")]) == [.answerPoll(id, [.message("\(round)")])])
        }
    }

    @Test func duplicateConcurrentGetClosesTheSession() {
        var (machine, held) = pollingMachineWithHeldPoll()
        let actions = machine.pollRequested()
        #expect(
            actions == [
                .rejectRequest(.badRequest),
                .answerPoll(held, [.close]),
                .cancelPingTimeout,
                .finish(.transportError),
            ])
        #expect(machine.state == .closed(.transportError))
        #expect(machine.isClosed)
        #expect(machine.transport == nil)
    }

    @Test func duplicateConcurrentPostClosesTheSession() {
        var machine = pollingMachine()
        #expect(machine.postStarted() == [])
        #expect(machine.postStarted() == [.rejectRequest(.badRequest), .cancelPingTimeout, .finish(.transportError)])
        #expect(machine.state == .closed(.transportError))
    }

    @Test func duplicatePostAnswersTheHeldPollWithClose() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.postStarted() == [])
        #expect(
            machine.postStarted() == [
                .rejectRequest(.badRequest),
                .answerPoll(held, [.close]),
                .cancelPingTimeout,
                .finish(.transportError),
            ])
    }

    @Test func sequentialPostsAreAllowed() {
        var machine = pollingMachine()
        for _ in 0..<3 {
            #expect(machine.postStarted() == [])
            machine.postFinished()
        }
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func postDuringUpgradeIsAllowedOnce() {
        var machine = upgradingMachine()
        #expect(machine.postStarted() == [])
        #expect(
            machine.postStarted() == [
                .rejectRequest(.badRequest), .closeWebSocket, .cancelPingTimeout, .finish(.transportError),
            ])
    }

    @Test func postAfterUpgradeIsRejectedWithoutClosing() {
        var machine = upgradedMachine()
        #expect(machine.postStarted() == [.rejectRequest(.badRequest)])
        #expect(machine.state == .websocket)
    }

    @Test func requestsAfterCloseAreUnknownSession() {
        var machine = pollingMachine()
        _ = machine.close(.serverClose)
        #expect(machine.pollRequested() == [.rejectRequest(.unknownSession)])
        #expect(machine.postStarted() == [.rejectRequest(.unknownSession)])
        #expect(machine.state == .closed(.serverClose))
    }

    @Test func abandonedPollFreesTheSlot() {
        var (machine, held) = pollingMachineWithHeldPoll()
        machine.pollAbandoned(held)
        #expect(machine.state == .polling(pendingPoll: nil))
        // A new GET is not a duplicate.
        #expect(machine.pollRequested() == [.holdPoll(held + 1)])
    }

    @Test func abandoningAnotherPollIDChangesNothing() {
        var (machine, held) = pollingMachineWithHeldPoll()
        machine.pollAbandoned(held + 100)
        #expect(machine.state == .polling(pendingPoll: held))
    }

    @Test func sendWithAbandonedPollIsBufferedForTheNextOne() {
        var (machine, held) = pollingMachineWithHeldPoll()
        machine.pollAbandoned(held)
        #expect(machine.send([.message("late")]) == [])
        #expect(machine.pollRequested() == [.answerPoll(held + 1, [.message("late")])])
    }

    // MARK: Messages from the client

    @Test func messagesAreDeliveredOverEitherTransport() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(.message("hi"), via: .polling) == [.deliver(.text("hi"))])
        #expect(machine.packetReceived(.message(bytes([9, 8])), via: .polling) == [.deliver(.binary(bytes([9, 8])))])

        var upgraded = upgradedMachine()
        #expect(upgraded.packetReceived(.message("ws"), via: .websocket) == [.deliver(.text("ws"))])
    }

    @Test func messageWithoutPayloadIsDeliveredAsEmptyText() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(EnginePacket(.message), via: .polling) == [.deliver(.text(""))])
    }

    @Test func noopFromTheClientDoesNothing() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(.noop, via: .polling) == [])
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func openPacketFromTheClientIsAParseError() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(EnginePacket(.open), via: .polling) == [.cancelPingTimeout, .finish(.parseError)])
        #expect(machine.state == .closed(.parseError))
    }

    @Test func decodingFailureClosesWithParseError() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.decodingFailed() == [.answerPoll(held, [.close]), .cancelPingTimeout, .finish(.parseError)])
        #expect(machine.state == .closed(.parseError))
    }

    // MARK: Upgrade

    @Test func probeOverWebSocketAnswersPongAndReleasesThePendingPoll() {
        var (machine, held) = pollingMachineWithHeldPoll()
        let actions = machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .websocket)
        #expect(actions == [.writeWebSocket([EnginePacket(.pong, .text("probe"))]), .answerPoll(held, [.noop])])
        #expect(machine.state == .upgrading(pendingPoll: nil))
        // Until the upgrade packet, polling remains the transport.
        #expect(machine.transport == .polling)
    }

    @Test func probeWithoutPendingPollOnlyAnswersPong() {
        var machine = pollingMachine()
        let actions = machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .websocket)
        #expect(actions == [.writeWebSocket([EnginePacket(.pong, .text("probe"))])])
        #expect(machine.state == .upgrading(pendingPoll: nil))
    }

    @Test func probeOverPollingIsIgnored() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .polling) == [])
        #expect(machine.state == .polling(pendingPoll: held))
    }

    @Test func pingOtherThanProbeOverWebSocketIsIgnored() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(.ping, via: .websocket) == [])
        #expect(machine.packetReceived(EnginePacket(.ping, .text("other")), via: .websocket) == [])
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func secondProbeDuringUpgradeIsIgnored() {
        var machine = upgradingMachine()
        #expect(machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .websocket) == [])
        #expect(machine.state == .upgrading(pendingPoll: nil))
    }

    @Test func getDuringUpgradeIsAnsweredWithNoopImmediately() {
        var machine = upgradingMachine()
        let first = machine.pollRequested()
        #expect(first.count == 1)
        guard case .answerPoll(let id, let packets) = first.first else {
            Issue.record("expected answerPoll, got \(first)")
            return
        }
        #expect(packets == [.noop])
        #expect(machine.state == .upgrading(pendingPoll: nil))
        // Several GETs in a row are not treated as concurrent duplicates.
        #expect(machine.pollRequested() == [.answerPoll(id + 1, [.noop])])
        #expect(!machine.isClosed)
    }

    @Test func getDuringUpgradeDoesNotDrainTheOutbox() {
        var machine = upgradingMachine()
        #expect(machine.send([.message("kept")]) == [])
        guard case .answerPoll(_, let packets) = machine.pollRequested().first else {
            Issue.record("expected answerPoll")
            return
        }
        #expect(packets == [.noop])
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [.writeWebSocket([.message("kept")])])
    }

    @Test func upgradePacketSwitchesToWebSocketAndFlushesTheOutbox() {
        var machine = upgradingMachine()
        #expect(machine.send([.message("one")]) == [])
        #expect(machine.send([.message(bytes([0xFF]))]) == [])
        let actions = machine.packetReceived(EnginePacket(.upgrade), via: .websocket)
        #expect(actions == [.writeWebSocket([.message("one"), .message(bytes([0xFF]))])])
        #expect(machine.state == .websocket)
        #expect(machine.transport == .websocket)
        // The flushed batch is in flight: the next packet waits for it, and only it is written next.
        #expect(machine.send([.message("two")]) == [])
        #expect(machine.webSocketWriteCompleted() == [.writeWebSocket([.message("two")])])
    }

    @Test func whatWaitsForTheBatchInFlightCanJoinItsWrite() {
        var machine = upgradedMachine()
        #expect(machine.send([.message("one")]) == [.writeWebSocket([.message("one")])])
        #expect(machine.send([.message("two")]) == [])
        #expect(machine.send([.message("three")]) == [])
        // Taken once, in order; the batch is still in flight, so the next packet waits again.
        #expect(machine.takeWebSocketBacklog() == [.message("two"), .message("three")])
        #expect(machine.takeWebSocketBacklog() == [])
        #expect(machine.send([.message("four")]) == [])
        #expect(machine.webSocketWriteCompleted() == [.writeWebSocket([.message("four")])])
        // Nothing to take from an idle WebSocket or a polling session.
        #expect(machine.webSocketWriteCompleted() == [])
        #expect(machine.takeWebSocketBacklog() == [])
        var polling = pollingMachine()
        #expect(polling.send([.message("held")]) == [])
        #expect(polling.takeWebSocketBacklog() == [])
    }

    @Test func theBacklogSaysWhetherItStartsWithABroadcastsPacket() {
        var machine = upgradedMachine()
        let broadcast = PreparedMessages([.text("news")]).packets
        #expect(machine.send([.message("own")]) == [.writeWebSocket([.message("own")])])
        #expect(!machine.webSocketBacklogStartsWithBroadcast)
        #expect(machine.send(broadcast) == [])
        #expect(machine.webSocketBacklogStartsWithBroadcast)
        #expect(machine.send([.message("after")]) == [])
        #expect(machine.takeWebSocketBacklog() == broadcast + [.message("after")])
        // A session's own packet first: it does not start with one, whatever follows.
        #expect(machine.send([.message("own again")]) == [])
        #expect(machine.send(broadcast) == [])
        #expect(!machine.webSocketBacklogStartsWithBroadcast)
        // Nothing in flight: no backlog.
        var idle = upgradedMachine()
        #expect(!idle.webSocketBacklogStartsWithBroadcast)
        #expect(idle.send(broadcast) == [.writeWebSocket(broadcast)])
        #expect(!idle.webSocketBacklogStartsWithBroadcast)
    }

    // MARK: Upgrade timeout

    @Test func anUpgradeThatTimesOutAfterTheProbeDropsTheWebSocketAndKeepsPolling() {
        var machine = upgradingMachine()
        #expect(machine.send([.message("waits")]) == [])
        #expect(machine.upgradeTimedOut() == [.closeWebSocket])
        #expect(machine.state == .polling(pendingPoll: nil))
        #expect(machine.transport == .polling)
        // What waited goes to the next GET, and an upgrade packet now is a protocol error.
        guard case .answerPoll(_, let packets) = machine.pollRequested().first else {
            Issue.record("expected answerPoll")
            return
        }
        #expect(packets == [.message("waits")])
        #expect(!machine.isClosed)
    }

    @Test func anUpgradeThatTimesOutBeforeTheProbeDropsTheWebSocket() {
        var machine = pollingMachine()
        #expect(machine.upgradeTimedOut() == [.closeWebSocket])
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func anUpgradeDoneOrASessionClosedIgnoresTheDeadline() {
        var upgraded = upgradedMachine()
        #expect(upgraded.upgradeTimedOut() == [])
        #expect(upgraded.state == .websocket)
        var closed = pollingMachine()
        _ = closed.close(.serverClose)
        #expect(closed.upgradeTimedOut() == [])
    }

    @Test func upgradeWithEmptyOutboxHasNoActions() {
        var machine = upgradingMachine()
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [])
        #expect(machine.state == .websocket)
    }

    @Test func packetsBufferedBeforeTheProbeAreFlushedOnUpgrade() {
        var machine = pollingMachine()
        #expect(machine.send([.message("early")]) == [])
        _ = machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .websocket)
        #expect(machine.webSocketWriteCompleted() == [])
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [.writeWebSocket([.message("early")])])
    }

    @Test func upgradeBeforeThePongWriteCompletesWaitsForIt() {
        var machine = pollingMachine()
        #expect(machine.send([.message("a")]) == [])
        _ = machine.packetReceived(EnginePacket(.ping, .text("probe")), via: .websocket)
        // The pong is still being written: the upgrade switches transport but writes nothing yet.
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [])
        #expect(machine.state == .websocket)
        #expect(machine.send([.message("b")]) == [])
        #expect(machine.webSocketWriteCompleted() == [.writeWebSocket([.message("a"), .message("b")])])
    }

    @Test func pollingGetAfterUpgradeIsRejected() {
        var machine = upgradedMachine()
        #expect(machine.pollRequested() == [.rejectRequest(.badRequest)])
        #expect(machine.state == .websocket)
    }

    @Test func upgradePacketOverPollingIsAParseError() {
        var (machine, held) = pollingMachineWithHeldPoll()
        let actions = machine.packetReceived(EnginePacket(.upgrade), via: .polling)
        #expect(actions == [.answerPoll(held, [.close]), .cancelPingTimeout, .finish(.parseError)])
        #expect(machine.state == .closed(.parseError))
    }

    @Test func upgradePacketOverPollingDuringUpgradeIsAParseError() {
        var machine = upgradingMachine()
        let actions = machine.packetReceived(EnginePacket(.upgrade), via: .polling)
        #expect(actions == [.closeWebSocket, .cancelPingTimeout, .finish(.parseError)])
        #expect(machine.state == .closed(.parseError))
    }

    @Test func upgradePacketWithoutProbeIsAParseError() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [.cancelPingTimeout, .finish(.parseError)])
        #expect(machine.state == .closed(.parseError))
    }

    @Test func secondUpgradePacketIsAParseError() {
        var machine = upgradedMachine()
        let actions = machine.packetReceived(EnginePacket(.upgrade), via: .websocket)
        #expect(actions == [.writeWebSocket([.close]), .closeWebSocket, .cancelPingTimeout, .finish(.parseError)])
    }

    @Test func webSocketCanAttachOnlyWhilePolling() {
        #expect(pollingMachine().canAttachWebSocket())
        let (held, _) = pollingMachineWithHeldPoll()
        #expect(held.canAttachWebSocket())
        #expect(!upgradingMachine().canAttachWebSocket())
        #expect(!upgradedMachine().canAttachWebSocket())
        var closed = pollingMachine()
        _ = closed.close(.serverClose)
        #expect(!closed.canAttachWebSocket())
    }

    // MARK: WebSocket closing

    @Test func webSocketClosedAfterUpgradeFinishesWithTransportClose() {
        var machine = upgradedMachine()
        #expect(machine.webSocketClosed() == [.cancelPingTimeout, .finish(.transportClose)])
        #expect(machine.state == .closed(.transportClose))
    }

    @Test func webSocketClosedOnWebSocketOnlySessionFinishes() {
        var machine = Machine(transport: .websocket)
        _ = machine.opened()
        #expect(machine.webSocketClosed() == [.cancelPingTimeout, .finish(.transportClose)])
    }

    @Test func webSocketClosedDuringUpgradeFallsBackToPolling() {
        var machine = upgradingMachine()
        #expect(machine.send([.message("buffered")]) == [])
        #expect(machine.webSocketClosed() == [])
        #expect(machine.state == .polling(pendingPoll: nil))
        #expect(machine.canAttachWebSocket())
        // What was buffered during the upgrade reaches the next poll.
        guard case .answerPoll(_, let packets) = machine.pollRequested().first else {
            Issue.record("expected answerPoll")
            return
        }
        #expect(packets == [.message("buffered")])
    }

    @Test func webSocketClosedWhilePollingChangesNothing() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.webSocketClosed() == [])
        #expect(machine.state == .polling(pendingPoll: held))
    }

    // MARK: WebSocket writes

    @Test func oneWebSocketWriteInFlightAtATime() {
        var machine = upgradedMachine()
        #expect(machine.isWritable)
        #expect(machine.send([.message("1")]) == [.writeWebSocket([.message("1")])])
        #expect(!machine.isWritable)
        // Sent while the first batch is being written: queued, then written together.
        #expect(machine.send([.message("2")]) == [])
        #expect(machine.send([.message("3"), .message(bytes([3]))]) == [])
        #expect(machine.webSocketWriteCompleted() == [.writeWebSocket([.message("2"), .message("3"), .message(bytes([3]))])])
        #expect(machine.webSocketWriteCompleted() == [])
        #expect(machine.isWritable)
        #expect(machine.send([.message("4")]) == [.writeWebSocket([.message("4")])])
    }

    @Test func webSocketOnlySessionWritesImmediately() {
        var machine = Machine(transport: .websocket)
        _ = machine.opened()
        #expect(machine.isWritable)
        #expect(machine.send([.message("x")]) == [.writeWebSocket([.message("x")])])
        #expect(machine.send([.message("y")]) == [])
        #expect(machine.webSocketWriteCompleted() == [.writeWebSocket([.message("y")])])
    }

    @Test func writeCompletedOutsideWebSocketStateDoesNothing() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.webSocketWriteCompleted() == [])
        #expect(machine.state == .polling(pendingPoll: held))
        var upgrading = upgradingMachine()
        _ = upgrading.send([.message("kept")])
        #expect(upgrading.webSocketWriteCompleted() == [])
        var closed = upgradedMachine()
        _ = closed.close(.serverClose)
        #expect(closed.webSocketWriteCompleted() == [])
    }

    @Test func serverCloseFlushesFramesQueuedBehindTheWriteInFlight() {
        var machine = upgradedMachine()
        _ = machine.send([.message("in flight")])
        _ = machine.send([.message("queued")])
        #expect(
            machine.close(.serverClose) == [
                .writeWebSocket([.message("queued"), .close]), .closeWebSocket, .cancelPingTimeout, .finish(.serverClose),
            ])
    }

    // MARK: Volatile packets

    @Test func isWritableInEachState() {
        #expect(!pollingMachine().isWritable)
        #expect(pollingMachineWithHeldPoll().0.isWritable)
        #expect(!upgradingMachine().isWritable)
        #expect(upgradedMachine().isWritable)
        var closed = pollingMachineWithHeldPoll().0
        _ = closed.close(.serverClose)
        #expect(!closed.isWritable)
    }

    @Test func volatilePacketsAreDroppedWithoutAHeldPoll() {
        var machine = pollingMachine()
        #expect(machine.send([.message("lost")], volatile: true) == [])
        #expect(machine.pollRequested() == [.holdPoll(1)])
        #expect(machine.send([.message("kept")], volatile: true) == [.answerPoll(1, [.message("kept")])])
    }

    @Test func volatilePacketsAreDroppedDuringUpgrade() {
        var machine = upgradingMachine()
        #expect(machine.send([.message("lost")], volatile: true) == [])
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [])
    }

    @Test func volatilePacketsAreDroppedWhileAWebSocketWriteIsInFlight() {
        var machine = upgradedMachine()
        #expect(machine.send([.message("a")], volatile: true) == [.writeWebSocket([.message("a")])])
        #expect(machine.send([.message("lost")], volatile: true) == [])
        #expect(machine.webSocketWriteCompleted() == [])
        #expect(machine.send([.message("b")], volatile: true) == [.writeWebSocket([.message("b")])])
    }

    @Test func volatileSendAfterCloseDoesNothing() {
        var machine = upgradedMachine()
        _ = machine.close(.serverClose)
        #expect(machine.send([.message("x")], volatile: true) == [])
    }

    // MARK: Heartbeat

    @Test func pingIntervalAnswersTheHeldPollWithPing() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.pingIntervalElapsed() == [.answerPoll(held, [.ping]), .schedulePingTimeout])
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func pingIntervalWithoutPollBuffersThePing() {
        var machine = pollingMachine()
        #expect(machine.pingIntervalElapsed() == [.schedulePingTimeout])
        #expect(machine.pollRequested() == [.answerPoll(1, [.ping])])
    }

    @Test func pingIntervalOverWebSocketWritesPing() {
        var machine = upgradedMachine()
        #expect(machine.pingIntervalElapsed() == [.writeWebSocket([.ping]), .schedulePingTimeout])
    }

    @Test func pingIntervalDuringUpgradeIsBufferedForTheWebSocket() {
        var machine = upgradingMachine()
        #expect(machine.pingIntervalElapsed() == [.schedulePingTimeout])
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [.writeWebSocket([.ping])])
    }

    @Test func pongCancelsTimeoutAndSchedulesNextPing() {
        var machine = pollingMachine()
        _ = machine.pingIntervalElapsed()
        #expect(machine.packetReceived(.pong, via: .polling) == [.cancelPingTimeout, .schedulePing])
        // Only one pong was asked for.
        #expect(machine.packetReceived(.pong, via: .polling) == [])
        // The timer that may still fire is stale.
        #expect(machine.pingTimeoutElapsed() == [])
        #expect(!machine.isClosed)
    }

    @Test func pongOverWebSocketWorksToo() {
        var machine = upgradedMachine()
        _ = machine.pingIntervalElapsed()
        #expect(machine.packetReceived(.pong, via: .websocket) == [.cancelPingTimeout, .schedulePing])
    }

    @Test func unsolicitedPongIsIgnored() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(.pong, via: .polling) == [])
        #expect(machine.state == .polling(pendingPoll: nil))
    }

    @Test func pingTimeoutWithoutPongClosesThePollingSession() {
        var (machine, first) = pollingMachineWithHeldPoll()
        #expect(machine.pingIntervalElapsed() == [.answerPoll(first, [.ping]), .schedulePingTimeout])
        // The client polls again but never answers the ping.
        #expect(machine.pollRequested() == [.holdPoll(first + 1)])
        #expect(
            machine.pingTimeoutElapsed() == [.answerPoll(first + 1, [.close]), .cancelPingTimeout, .finish(.pingTimeout)])
        #expect(machine.state == .closed(.pingTimeout))
    }

    @Test func pingTimeoutWithoutPongClosesTheWebSocketSession() {
        var machine = upgradedMachine()
        _ = machine.pingIntervalElapsed()
        #expect(
            machine.pingTimeoutElapsed() == [
                .writeWebSocket([.close]), .closeWebSocket, .cancelPingTimeout, .finish(.pingTimeout),
            ])
        #expect(machine.state == .closed(.pingTimeout))
    }

    @Test func pingTimeoutWithoutPingIsIgnored() {
        var machine = pollingMachine()
        #expect(machine.pingTimeoutElapsed() == [])
        #expect(!machine.isClosed)
    }

    // MARK: Client close

    @Test func clientCloseWithPendingPollAnswersNoop() {
        var (machine, held) = pollingMachineWithHeldPoll()
        let actions = machine.packetReceived(.close, via: .polling)
        #expect(actions == [.answerPoll(held, [.noop]), .cancelPingTimeout, .finish(.clientClose)])
        #expect(machine.state == .closed(.clientClose))
    }

    @Test func clientCloseWithoutPendingPoll() {
        var machine = pollingMachine()
        #expect(machine.packetReceived(.close, via: .polling) == [.cancelPingTimeout, .finish(.clientClose)])
        #expect(machine.state == .closed(.clientClose))
    }

    @Test func clientCloseOverWebSocketClosesIt() {
        var machine = upgradedMachine()
        #expect(machine.packetReceived(.close, via: .websocket) == [.closeWebSocket, .cancelPingTimeout, .finish(.clientClose)])
        #expect(machine.state == .closed(.clientClose))
    }

    @Test func clientCloseDuringUpgradeClosesTheProbeWebSocket() {
        var machine = upgradingMachine()
        #expect(machine.packetReceived(.close, via: .polling) == [.closeWebSocket, .cancelPingTimeout, .finish(.clientClose)])
        #expect(machine.state == .closed(.clientClose))
    }

    @Test func clientCloseDiscardsTheOutbox() {
        var machine = pollingMachine()
        _ = machine.send([.message("never")])
        _ = machine.packetReceived(.close, via: .polling)
        #expect(machine.pollRequested() == [.rejectRequest(.unknownSession)])
    }

    // MARK: Server close

    @Test func serverCloseWhilePollingWithoutPoll() {
        var machine = pollingMachine()
        #expect(machine.close(.serverClose) == [.cancelPingTimeout, .finish(.serverClose)])
        #expect(machine.state == .closed(.serverClose))
    }

    @Test func serverCloseWhilePollingWithQueuedMessagesHandsThemToTheNextPoll() {
        var machine = pollingMachine()
        #expect(machine.send([.message("ack")]) == [])
        #expect(machine.close(.serverShuttingDown) == [.cancelPingTimeout, .schedulePingTimeout])
        #expect(machine.state == .closing(.serverShuttingDown))
        // Nothing new is queued or delivered while closing.
        #expect(machine.send([.message("late")]) == [])
        #expect(machine.packetReceived(EnginePacket(.message, .text("ignored")), via: .polling) == [])
        let id = machine.pollRequested().first.flatMap { action -> Machine.PollID? in
            if case .answerPoll(let id, _) = action { return id } else { return nil }
        }
        #expect(id != nil)
        #expect(machine.state == .closed(.serverShuttingDown))
    }

    @Test func closingSessionsLastPollCarriesTheQueuedMessagesAndTheClosePacket() {
        var machine = pollingMachine()
        _ = machine.send([.message("one"), .message("two")])
        _ = machine.close(.serverShuttingDown)
        let actions = machine.pollRequested()
        guard case .answerPoll(let id, let packets) = actions.first else {
            Issue.record("expected the last poll to be answered, got \(actions)")
            return
        }
        #expect(packets == [.message("one"), .message("two"), .close])
        #expect(actions == [.answerPoll(id, packets), .cancelPingTimeout, .finish(.serverShuttingDown)])
        #expect(machine.pollRequested() == [.rejectRequest(.unknownSession)])
    }

    @Test func closingSessionWhoseClientNeverPollsEndsAtThePingTimeout() {
        var machine = pollingMachine()
        _ = machine.send([.message("unread")])
        _ = machine.close(.serverShuttingDown)
        #expect(machine.pingTimeoutElapsed() == [.cancelPingTimeout, .finish(.serverShuttingDown)])
        #expect(machine.state == .closed(.serverShuttingDown))
    }

    @Test func serverCloseWithOnlyAPingQueuedDoesNotWaitForAPoll() {
        var machine = pollingMachine()
        _ = machine.pingIntervalElapsed()
        #expect(machine.close(.serverClose) == [.cancelPingTimeout, .finish(.serverClose)])
        #expect(machine.state == .closed(.serverClose))
    }

    @Test func serverCloseWhilePollingAnswersTheHeldPollWithClose() {
        var (machine, held) = pollingMachineWithHeldPoll()
        #expect(machine.close(.serverClose) == [.answerPoll(held, [.close]), .cancelPingTimeout, .finish(.serverClose)])
        #expect(machine.state == .closed(.serverClose))
    }

    @Test func serverCloseDuringUpgradeClosesTheProbeWebSocket() {
        var machine = upgradingMachine()
        #expect(machine.close(.serverShuttingDown) == [.closeWebSocket, .cancelPingTimeout, .finish(.serverShuttingDown)])
        #expect(machine.state == .closed(.serverShuttingDown))
    }

    @Test func serverCloseOverWebSocketSendsCloseThenClosesIt() {
        var machine = upgradedMachine()
        #expect(machine.close(.serverClose) == [.writeWebSocket([.close]), .closeWebSocket, .cancelPingTimeout, .finish(.serverClose)])
        #expect(machine.state == .closed(.serverClose))
    }

    @Test func secondCloseDoesNothingAndKeepsTheFirstReason() {
        var machine = pollingMachine()
        _ = machine.close(.pingTimeout)
        #expect(machine.close(.serverClose) == [])
        #expect(machine.state == .closed(.pingTimeout))
    }

    // MARK: After close

    @Test func everyEventAfterCloseIsIgnored() {
        var machine = upgradedMachine()
        _ = machine.pingIntervalElapsed()
        _ = machine.close(.serverClose)
        #expect(machine.send([.message("x")]) == [])
        #expect(machine.packetReceived(.message("x"), via: .websocket) == [])
        #expect(machine.packetReceived(.pong, via: .websocket) == [])
        #expect(machine.packetReceived(.close, via: .websocket) == [])
        #expect(machine.packetReceived(EnginePacket(.upgrade), via: .websocket) == [])
        #expect(machine.pingIntervalElapsed() == [])
        #expect(machine.pingTimeoutElapsed() == [])
        #expect(machine.webSocketClosed() == [])
        #expect(machine.decodingFailed() == [])
        #expect(machine.state == .closed(.serverClose))
    }

    @Test func sendAfterCloseProducesNoActions() {
        var machine = pollingMachine()
        _ = machine.close(.serverClose)
        #expect(machine.send([.message("a"), .ping]) == [])
        machine.pollAbandoned(1)
        #expect(machine.state == .closed(.serverClose))
    }
}
