import SocketIO

/// The body of a benchmark `bid`: `{"seq": n, "sentAt": ns, "emitter": k}`, with `"note": text`
/// when the run pads its bids. `sentAt` is read off `BenchClock`, so only clients of the same
/// process can compute latencies from it.
struct BidPayload: Sendable, Equatable {
    static let eventName = "bid"

    var seq: Int
    var sentAt: Int64
    var emitter: Int
    var note: String? = nil

    var json: JSONValue {
        var members = [
            JSONMember(key: "seq", value: .number(Double(seq))),
            JSONMember(key: "sentAt", value: .number(Double(sentAt))),
            JSONMember(key: "emitter", value: .number(Double(emitter))),
        ]
        if let note { members.append(JSONMember(key: "note", value: .string(note))) }
        return .object(members)
    }

    /// Padding of about `bytes` bytes of auction-like text, which compresses as such text does.
    static func note(bytes: Int) -> String? {
        guard bytes > 0 else { return nil }
        let words = ["lot", "bid", "reserve", "increment", "seller", "buyer", "closing", "price", "item", "room"]
        var text = ""
        var index = 0
        while text.utf8.count < bytes {
            text += words[(index * 7 + index / 10) % words.count]
            text += index % 13 == 12 ? ". " : " "
            index += 1
        }
        return String(text.prefix(bytes))
    }

    /// Reads the payload of a `bid` event's arguments, or nil when they are not one of ours.
    init?(eventArguments data: JSONValue?) {
        guard let data, data[0]?.stringValue == Self.eventName, let body = data[1],
            let seq = body["seq"]?.integerValue, let sentAt = body["sentAt"]?.integerValue,
            let emitter = body["emitter"]?.integerValue
        else { return nil }
        self.init(seq: Int(seq), sentAt: sentAt, emitter: Int(emitter))
    }

    init(seq: Int, sentAt: Int64, emitter: Int) {
        self.seq = seq
        self.sentAt = sentAt
        self.emitter = emitter
    }
}
