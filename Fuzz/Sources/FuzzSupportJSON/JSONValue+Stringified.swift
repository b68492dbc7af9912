import SocketIO

extension JSONValue {
    /// What `JSON.stringify` makes of the value, and so what a round trip through text gives:
    /// non-finite numbers become null.
    public var stringified: JSONValue {
        switch self {
        case .number(let number) where !number.isFinite: .null
        case .array(let items): .array(items.map(\.stringified))
        case .object(let members): .object(members.map { JSONMember(key: $0.key, value: $0.value.stringified) })
        default: self
        }
    }
}
