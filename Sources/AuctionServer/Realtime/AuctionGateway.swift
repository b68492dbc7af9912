import AuctionCore
import Foundation
import Logging
import SocketIO

/// The realtime side of auctions on the main namespace: who may join which room, the state on
/// join, bids with acks, and the events every socket of a room receives.
struct AuctionGateway: Sendable {
    let namespace: Namespace
    let items: ItemRepository
    let ledger: BidLedger
    let bidLimiter: BidLimiter
    let endedSignIns: EndedSignIns
    let metrics: ServiceMetrics
    let logger: Logger

    static let recentBidCount = 50
    static let catchUpLimit = 1000

    static func itemRoom(_ itemID: String) -> String { "item:\(itemID)" }
    static func userRoom(_ userID: String) -> String { "user:\(userID)" }
    /// The bidder's own sockets in one auction: "self versus others" is two room emits, so it
    /// works unchanged when broadcasts cross instances.
    static func ownRoom(itemID: String, userID: String) -> String { "item:\(itemID):user:\(userID)" }
    /// The sockets of one sign-in on this instance: disconnected when it ends.
    static func signInRoom(_ signInID: String) -> String { "signin:\(signInID)" }

    func mount() {
        namespace.use { socket in try await self.admit(socket) }
        namespace.onConnection { socket in await self.connected(socket) }
        let namespace = self.namespace
        endedSignIns.onEnded { signInID in
            await namespace.in(Self.signInRoom(signInID)).disconnectSockets(close: true)
        }
    }

    // MARK: Joining

    private func admit(_ socket: Socket) async throws {
        let requested = Self.identifier(socket.handshake.auth["itemId"]) ?? socket.handshake.query["itemId"]
        let item: ItemRecord?
        do {
            item = try await requested.asyncFlatMap { try await items.find(id: $0) }
        } catch {
            throw ConnectionRefusal("The auction service is unavailable; try again.", data: ["code": "UNAVAILABLE"])
        }
        guard let item else {
            throw ConnectionRefusal("There is no such auction.", data: ["code": "ITEM_NOT_FOUND"])
        }
        var data = [JSONMember(key: "itemId", value: .string(item.id))]
        if let userID = socket.handshake.attachments[HandshakeGuard.Attachment.userID] {
            data.append(JSONMember(key: "userId", value: .string(userID)))
        }
        socket.data = .object(data)
    }

    /// Connection state recovery: a kept socket comes back only to a handshake the guard granted
    /// to the same user (a pid alone is not a credential).
    static func mayRestore(_ kept: RecoverableSession, to handshake: Handshake) -> Bool {
        guard let owner = kept.data["userId"]?.stringValue, let user = handshake.attachments[HandshakeGuard.Attachment.userID] else {
            return false
        }
        return owner == user
    }

    private func connected(_ socket: Socket) async {
        guard let itemID = socket.data["itemId"]?.stringValue,
            let userID = socket.handshake.attachments[HandshakeGuard.Attachment.userID]
        else {
            socket.disconnect()
            return
        }
        let userName = socket.handshake.attachments[HandshakeGuard.Attachment.userName] ?? ""
        // Join before reading the state: a bid accepted in between is then both in the state and
        // a live event (clients key bids by id), never in neither.
        socket.join(Self.itemRoom(itemID), Self.userRoom(userID), Self.ownRoom(itemID: itemID, userID: userID))
        if let signInID = socket.handshake.attachments[HandshakeGuard.Attachment.signInID] {
            socket.join(Self.signInRoom(signInID))
            // Ended between its handshake and now: the disconnect above may have missed it.
            if endedSignIns.contains(signInID) {
                socket.disconnect(close: true)
                return
            }
        }
        socket.on("bid") { event in await self.bid(event, itemID: itemID, bidder: Bidder(id: userID, name: userName)) }
        // Recovered: its rooms came back with it and the events it missed were replayed before
        // its CONNECT reply, so there is no state to reload. Otherwise `lastBidId` fills the gap.
        guard !socket.recovered else { return }

        let lastBidID = Self.identifier(socket.handshake.auth["lastBidId"]) ?? socket.handshake.query["lastBidId"]
        do {
            guard let item = try await items.find(id: itemID) else { return }
            let bids: [BidRecord]
            if let lastBidID, let after = RecordID.parse(lastBidID) {
                bids = try await items.bids(itemID: itemID, after: after, limit: Self.catchUpLimit)
            } else {
                bids = try await items.recentBids(itemID: itemID, limit: Self.recentBidCount)
            }
            socket.emit(
                "auction:state",
                [
                    "item": JSONValue(encoding: item),
                    "recentBids": JSONValue(encoding: bids),
                    "you": ["id": .string(userID), "name": .string(userName)],
                ]
            )
        } catch {
            logger.warning("auction state unavailable", metadata: ["item": "\(itemID)", "error": "\(error)"])
            socket.emit("auction:error", ["code": "UNAVAILABLE", "message": "The auction state could not be loaded."])
        }
    }

    // MARK: Bidding

    private func bid(_ event: SocketEvent, itemID: String, bidder: Bidder) async {
        let result: JSONValue
        switch await decide(event, itemID: itemID, bidder: bidder) {
        case .success(let placement):
            result = ["ok": true, "bid": JSONValue(encoding: placement.bid)]
            metrics.bidCounter("accepted").increment()
        case .failure(let rejection):
            result = ["ok": false, "error": ["code": .string(rejection.code), "message": .string(rejection.message)]]
            metrics.bidCounter(rejection.code).increment()
        }
        // From the packet's arrival: the wait behind the connection's earlier events counts.
        metrics.bidLatency.record(.seconds(max(Date().timeIntervalSince(event.receivedAt), 0)))
        event.ack?(result)
    }

    private func decide(_ event: SocketEvent, itemID: String, bidder: Bidder) async -> Result<Placement, BidRejection> {
        guard let payload = event.args.first, payload.isObject else {
            return .failure(.invalidPayload("the bid must be an object {itemId, price, clientBidId?}"))
        }
        let attachments = event.socket.handshake.attachments
        if let expiry = attachments[HandshakeGuard.Attachment.tokenExpiresAt].flatMap(Double.init),
            Date().timeIntervalSince1970 >= expiry
        {
            return .failure(.unauthorized)
        }
        if let signInID = attachments[HandshakeGuard.Attachment.signInID], endedSignIns.contains(signInID) {
            return .failure(.unauthorized)
        }
        let request: BidRequest
        do {
            request = try BidRequest(
                itemId: Self.identifier(payload["itemId"]),
                price: payload["price"]?.numberValue,
                clientBidId: payload["clientBidId"].flatMap { $0 == .null ? nil : ($0.stringValue ?? "") },
                expectedItemId: itemID
            )
        } catch {
            return .failure(error)
        }
        // Judged by when the bid arrived: time it spent queued behind this connection's earlier
        // bids is the server's, not the bidder's.
        guard await bidLimiter.allow(bidder.id, now: event.receivedAt) else { return .failure(.rateLimited) }
        do {
            let placement = try await ledger.place(request, bidder: bidder, receivedAt: event.receivedAt) { placement in
                await self.publish(placement)
            }
            return .success(placement)
        } catch {
            return .failure(error)
        }
    }

    /// Every socket of the room gets exactly one `bid` event: the bidder's own sockets the `mine`
    /// one, everyone else the other. Called under the item's lock; the emits return only once no
    /// later bid's broadcast can overtake them on any instance.
    func publish(_ placement: Placement) async {
        let bid = placement.bid
        let room = Self.itemRoom(bid.itemId)
        let own = Self.ownRoom(itemID: bid.itemId, userID: bid.bidder.id)
        let bidJSON = JSONValue(encoding: bid)
        await namespace.to(own).emitInOrder("bid", ["bid": bidJSON, "mine": true, "text": .string("You bid \(bid.price)")])
        await namespace.to(room).except(own).emitInOrder("bid", ["bid": bidJSON, "mine": false, "text": .string("\(bid.bidder.name): \(bid.price)")])
        if let extended = placement.extendedTo {
            await namespace.to(room).emitInOrder("auction:extended", ["itemId": .string(bid.itemId), "endsAt": .date(extended)])
        }
    }

    func publish(_ closing: AuctionClosing) async {
        await namespace.to(Self.itemRoom(closing.itemId)).emitInOrder(
            "auction:closed",
            [
                "itemId": .string(closing.itemId),
                "winner": closing.winner.map { JSONValue(encoding: $0) } ?? .null,
                "price": .number(Double(closing.price)),
            ]
        )
    }

    /// Ids are strings; a number is accepted as its decimal text.
    static func identifier(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: return text
        case .number?: return value?.integerValue.map { String($0) }
        default: return nil
        }
    }
}

extension Optional {
    func asyncFlatMap<Mapped>(_ transform: (Wrapped) async throws -> Mapped?) async rethrows -> Mapped? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
