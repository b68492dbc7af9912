import EngineIO
import Foundation
import SocketIO

/// Conversions between our types and the shapes Node's adapter puts on the wire.
enum WireFormat {
    /// `{type, data, nsp}` (plus `id` when set), keys in Node's order.
    static func packet(_ packet: SocketIOPacket, namespace: String) -> JSONValue {
        var members = [JSONMember(key: "type", value: .number(Double(packet.type.rawValue)))]
        if let data = packet.data { members.append(JSONMember(key: "data", value: data)) }
        members.append(JSONMember(key: "nsp", value: .string(namespace)))
        if let id = packet.id { members.append(JSONMember(key: "id", value: .number(Double(id)))) }
        return .object(members)
    }

    /// `{rooms, except, flags}`; `flags` holds only what is set (Node omits undefined keys).
    static func options(_ options: BroadcastOptions, includeFlags: Bool = true, includeTimeout: Bool = false) -> JSONValue {
        var members = [
            JSONMember(key: "rooms", value: .array(options.rooms.sorted().map { .string($0) })),
            JSONMember(key: "except", value: .array(options.except.sorted().map { .string($0) })),
        ]
        if includeFlags {
            var flags: [JSONMember] = []
            if options.flags.volatile { flags.append(JSONMember(key: "volatile", value: true)) }
            if includeTimeout, let timeout = options.flags.timeout {
                flags.append(JSONMember(key: "timeout", value: .number(Double(timeout.milliseconds))))
            }
            members.append(JSONMember(key: "flags", value: .object(flags)))
        }
        return .object(members)
    }

    /// Room names are strings, but JavaScript users sometimes pass numbers.
    static func roomNames(_ value: JSONValue?) -> Set<String> {
        guard let items = value?.arrayValue else { return [] }
        return Set(items.compactMap { item in
            if let text = item.stringValue { return text }
            if case .number(let number) = item { return JSONValue.number(number).jsonText }
            return nil
        })
    }

    /// Broadcast options from the wire; a missing `opts` means everyone.
    static func broadcastOptions(_ value: JSONValue?) -> BroadcastOptions {
        var options = BroadcastOptions(rooms: roomNames(value?["rooms"]), except: roomNames(value?["except"]))
        options.flags.volatile = value?["flags"]?["volatile"]?.boolValue ?? false
        return options
    }

    /// A packet object from the wire, for this namespace; nil when it is for another one or malformed.
    static func socketPacket(_ value: JSONValue?, namespace: String) -> SocketIOPacket? {
        guard let value, value.isObject, let data = value["data"], data.arrayValue != nil else { return nil }
        // A missing nsp means "/"; one that is not a string is not a packet of ours.
        var nsp = "/"
        if let given = value["nsp"] {
            guard let text = given.stringValue else { return nil }
            nsp = text
        }
        guard nsp == namespace else { return nil }
        return SocketIOPacket(type: .event, namespace: namespace, data: data)
    }

    /// A local socket as Node's `RemoteSocket` expects it in a fetchSockets response.
    static func socket(_ socket: Socket) -> JSONValue {
        let handshake = socket.handshake
        let headers = handshake.nodeHeaders.map { JSONMember(key: $0.name, value: .string($0.value)) }
        let query = JSONValue.object(handshake.query.sorted { $0.key < $1.key }.map { JSONMember(key: $0.key, value: .string($0.value)) })
        let issued = (handshake.time.timeIntervalSince1970 * 1000).rounded()
        return .object([
            JSONMember(key: "id", value: .string(socket.id)),
            JSONMember(
                key: "handshake",
                value: .object([
                    JSONMember(key: "headers", value: .object(headers)),
                    JSONMember(key: "time", value: .string(JavaScriptDate.string(handshake.time))),
                    JSONMember(key: "address", value: handshake.address.map { .string($0) } ?? .null),
                    JSONMember(key: "xdomain", value: .bool(handshake.headers[.origin] != nil)),
                    JSONMember(key: "secure", value: false),
                    JSONMember(key: "issued", value: .number(issued)),
                    JSONMember(key: "url", value: .string(handshake.request.target)),
                    JSONMember(key: "query", value: query),
                    JSONMember(key: "auth", value: handshake.auth),
                ])
            ),
            JSONMember(key: "rooms", value: .array(socket.rooms.sorted().map { .string($0) })),
            JSONMember(key: "data", value: socket.data),
        ])
    }

    /// A socket of another server, from a fetchSockets response.
    static func descriptor(_ value: JSONValue) -> SocketDescriptor? {
        guard let id = value["id"]?.stringValue else { return nil }
        let handshake = value["handshake"]
        var query: [String: String] = [:]
        if case .object(let members)? = handshake?["query"] {
            for member in members { query[member.key] = member.value.stringValue ?? member.value.jsonText }
        }
        var headers: [String: String] = [:]
        if case .object(let members)? = handshake?["headers"] {
            // Node sends set-cookie-like headers as arrays; they are joined as the others.
            for member in members {
                headers[member.key] = member.value.stringValue ?? member.value.arrayValue?.compactMap(\.stringValue).joined(separator: ", ")
            }
        }
        return SocketDescriptor(
            id: id,
            rooms: roomNames(value["rooms"]),
            data: value["data"] ?? .null,
            handshakeAuth: handshake?["auth"] ?? .object([]),
            handshakeQuery: query,
            handshakeHeaders: headers,
            address: handshake?["address"]?.stringValue
        )
    }
}

/// `Date.prototype.toString()` as Node prints it on a UTC machine.
enum JavaScriptDate {
    static func string(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE MMM dd yyyy HH:mm:ss 'GMT+0000 (Coordinated Universal Time)'"
        return formatter.string(from: date)
    }
}
