import NIOCore
import Testing

@testable import RedisClient

/// Slots, keys, slot maps and redirections, against the Redis Cluster specification's examples.
@Suite("Redis Cluster routing")
struct RedisClusterRoutingTests {
    func slot(_ key: String) -> Int { RedisCluster.slot(of: Array(key.utf8)) }

    @Test func crc16IsXmodem() {
        // The specification's check value.
        #expect(RedisCluster.crc16(Array("123456789".utf8)) == 0x31C3)
    }

    @Test func hashTagsFollowTheSpecification() {
        #expect(slot("{user1000}.following") == slot("{user1000}.followers"))
        #expect(slot("{user1000}.following") == slot("user1000"))
        // An empty tag hashes the whole key; only the first { and the first } after it count.
        #expect(slot("foo{}{bar}") == Int(RedisCluster.crc16(Array("foo{}{bar}".utf8)) % 16384))
        #expect(slot("foo{{bar}}zap") == slot("{bar"))
        #expect(slot("foo{bar}{zap}") == slot("bar"))
        #expect(slot("auction:signin:{abc}") == slot("auction:signin-ended:{abc}"))
        // Known slots (redis-cli CLUSTER KEYSLOT).
        #expect(slot("foo") == 12182)
        #expect(slot("bar") == 5061)
        #expect(slot("") == 0)
    }

    @Test func commandsAreRoutedByTheirKey() {
        func key(_ words: String...) -> String? {
            RedisCluster.key(of: words.map { Array($0.utf8) }).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(key("GET", "a") == "a")
        #expect(key("set", "b", "1", "EX", "5") == "b")
        #expect(key("EVAL", "return 1", "2", "k1", "k2", "arg") == "k1")
        #expect(key("EVAL", "return 1", "0") == nil)
        #expect(key("PUBLISH", "channel", "x") == nil)
        #expect(key("PUBSUB", "NUMSUB", "c") == nil)
        #expect(key("PING") == nil)
    }

    @Test func redirectionsAreRead() {
        #expect(RedisCluster.Redirection("MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: .init(host: "127.0.0.1", port: 6381)))
        #expect(RedisCluster.Redirection("ASK 3999 [::1]:7000") == .ask(slot: 3999, to: .init(host: "::1", port: 7000)))
        #expect(RedisCluster.Redirection("ERR unknown command") == nil)
        #expect(RedisCluster.Redirection("MOVED x 127.0.0.1:1") == nil)
        #expect(RedisCluster.Node("127.0.0.1:0") == nil)
        #expect(RedisCluster.Node("redis.example:6379")?.description == "redis.example:6379")
    }

    @Test func slotMapsAreReadFromClusterSlots() throws {
        func node(_ host: String, _ port: Int64) -> RESPValue {
            .array([.bulk(ByteBuffer(string: host)), .integer(port), .bulk(ByteBuffer(string: "id"))])
        }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(8191), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            .array([.integer(8192), .integer(16383), node("", 7001)]),
        ])
        let answering = RedisCluster.Node(host: "10.0.0.9", port: 7001)
        let map = try RedisCluster.SlotMap(clusterSlots: reply, answeredBy: answering)
        #expect(map.primary(of: 0)?.port == 7000)
        #expect(map.primary(of: 8191)?.port == 7000)
        // An empty host is the node that answered.
        #expect(map.primary(of: 16383) == answering)
        #expect(map.isComplete)
        #expect(map.nodes.count == 3)
        #expect(map.primaries.count == 2)
        #expect(throws: RedisError.self) { try RedisCluster.SlotMap(clusterSlots: .array([.array([.integer(5)])]), answeredBy: answering) }
        let partial = try RedisCluster.SlotMap(clusterSlots: .array([reply.arrayItems[0]]), answeredBy: answering)
        #expect(!partial.isComplete)
    }
}

extension RESPValue {
    fileprivate var arrayItems: [RESPValue] {
        if case .array(let items?) = self { return items }
        return []
    }
}
