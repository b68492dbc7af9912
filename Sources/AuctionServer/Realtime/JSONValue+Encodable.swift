import Foundation
import SocketIO

extension JSONValue {
    /// The JSON value of an `Encodable`, encoded exactly as the REST API encodes it.
    init<Value: Encodable>(encoding value: Value) {
        guard let data = try? JSONCoding.encoder.encode(value), let parsed = try? JSONParser.parse(Array(data)) else {
            self = .null
            return
        }
        self = parsed
    }

    static func date(_ date: Date) -> JSONValue {
        JSONValue(encoding: date)
    }
}
