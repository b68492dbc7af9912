/// What routing a command on a Redis Cluster needs: a key's hash slot, the key of a command, the
/// slot map (`CLUSTER SLOTS`), and the redirections (`MOVED`, `ASK`) nodes answer with. Written by
/// hand after the Redis Cluster specification; no I/O here.
public enum RedisCluster {
    public static let slotCount = 16384

    /// A node of the cluster, as `CLUSTER SLOTS` and redirections name it.
    public struct Node: Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port` (an IPv6 host in brackets, or its last colon separates the port).
        public init?(_ text: some StringProtocol) {
            var text = Substring(text)
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                return nil
            }
            text = text[..<colon]
            if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
            guard !text.isEmpty else { return nil }
            self.init(host: String(text), port: port)
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The slot of a key: CRC16 (XMODEM) of the key, or of its hash tag — what lies between the
    /// first `{` and the first `}` after it, when that is not empty — modulo 16384.
    public static func slot(of key: some Collection<UInt8>) -> Int {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(slotCount))
        }
        return Int(crc16(bytes) % UInt16(slotCount))
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, no reflection.
    static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }

    /// The key a command is routed by, or nil for a command any node answers (`PING`, `PUBLISH`:
    /// classic pub/sub reaches every node). `EVAL`/`EVALSHA` are routed by their first key; the
    /// others the service sends take their key first.
    public static func key(of arguments: [[UInt8]]) -> [UInt8]? {
        guard let first = arguments.first else { return nil }
        switch String(decoding: first, as: UTF8.self).uppercased() {
        case "PING", "PUBLISH", "PUBSUB", "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "CLUSTER", "ASKING", "AUTH",
            "SELECT", "INFO", "HELLO", "SCRIPT", "CLIENT":
            return nil
        case "EVAL", "EVALSHA":
            guard arguments.count > 3, let count = Int(String(decoding: arguments[2], as: UTF8.self)), count > 0 else { return nil }
            return arguments[3]
        default:
            return arguments.count > 1 ? arguments[1] : nil
        }
    }

    /// A node's answer that the slot is elsewhere: for good (`MOVED`: ask the new owner from now
    /// on, and reread the map) or during a migration (`ASK`: this command only, after `ASKING`).
    public enum Redirection: Equatable, Sendable {
        case moved(slot: Int, to: Node)
        case ask(slot: Int, to: Node)

        public init?(_ message: String) {
            let words = message.split(separator: " ")
            guard words.count == 3, let slot = Int(words[1]), let node = Node(words[2]) else { return nil }
            switch words[0] {
            case "MOVED": self = .moved(slot: slot, to: node)
            case "ASK": self = .ask(slot: slot, to: node)
            default: return nil
            }
        }
    }

    /// Which primary serves each slot, and every node (primaries and replicas).
    public struct SlotMap: Sendable, Equatable {
        /// The primary of each slot (nil: not served).
        var owners: [Node?]
        public private(set) var nodes: Set<Node>

        public init() {
            owners = Array(repeating: nil, count: RedisCluster.slotCount)
            nodes = []
        }

        /// From the reply of `CLUSTER SLOTS`: `[[start, end, [host, port, id…], [replica…]…]…]`.
        /// An empty host means the node that answered (`answeredBy`).
        public init(clusterSlots reply: RESPValue, answeredBy: Node) throws(RedisError) {
            self.init()
            guard case .array(let ranges?) = reply else { throw .protocolError("CLUSTER SLOTS answered \(reply)") }
            for range in ranges {
                guard case .array(let fields?) = range, fields.count >= 3, let start = fields[0].integer, let end = fields[1].integer,
                    start >= 0, end < RedisCluster.slotCount, start <= end
                else { throw .protocolError("a CLUSTER SLOTS range is malformed: \(range)") }
                var members: [Node] = []
                for field in fields[2...] {
                    guard case .array(let parts?) = field, parts.count >= 2, let host = parts[0].string, let port = parts[1].integer else {
                        throw .protocolError("a CLUSTER SLOTS node is malformed: \(field)")
                    }
                    members.append(host.isEmpty || host == "?" ? answeredBy : Node(host: host, port: Int(port)))
                }
                for slot in Int(start)...Int(end) { owners[slot] = members[0] }
                nodes.formUnion(members)
            }
        }

        public func primary(of slot: Int) -> Node? { owners[slot] }

        public var primaries: Set<Node> { Set(owners.compactMap { $0 }) }

        /// Every slot has an owner.
        public var isComplete: Bool { !owners.contains(nil) }
    }
}
