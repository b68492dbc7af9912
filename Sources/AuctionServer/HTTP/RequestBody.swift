import Foundation
import Hummingbird

/// Reads JSON request bodies with precise errors: too large, not JSON, wrong or missing fields.
enum RequestJSON {
    static let maximumSize = 64 * 1024

    static func decode<Value: Decodable>(_ type: Value.Type, from request: Request) async throws -> Value {
        guard let value = try await decodeIfPresent(type, from: request) else {
            throw APIError.invalidInput("The request body must be a JSON object.")
        }
        return value
    }

    /// Like ``decode(_:from:)``, but an empty body is nil.
    static func decodeIfPresent<Value: Decodable>(_ type: Value.Type, from request: Request) async throws -> Value? {
        let body = request.body
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: maximumSize)
        } catch {
            throw APIError.payloadTooLarge
        }
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try JSONCoding.decoder.decode(Value.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.invalidInput(describe(error))
        } catch {
            throw APIError.invalidInput("The request body is not valid JSON.")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _):
            return "Missing field '\(key.stringValue)'."
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let field = path(context)
            return field.isEmpty ? "The request body must be a JSON object." : "Field '\(field)' has the wrong type."
        case .dataCorrupted(let context):
            let field = path(context)
            return field.isEmpty ? "The request body is not valid JSON." : "Field '\(field)' is invalid: \(context.debugDescription)"
        @unknown default:
            return "The request body is invalid."
        }
    }
}
