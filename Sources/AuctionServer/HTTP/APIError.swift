import Foundation
import HTTPTypes
import Hummingbird

/// An error answer of the REST API: `{"error": {"code": "…", "message": "…"}}`.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Seconds the client should wait (`Retry-After`), for `RATE_LIMITED`.
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static func invalidInput(_ message: String) -> APIError { APIError(.badRequest, "INVALID_INPUT", message) }
    public static let unauthorized = APIError(.unauthorized, "UNAUTHORIZED", "Sign in first.")
    public static let invalidCredentials = APIError(.unauthorized, "INVALID_CREDENTIALS", "Wrong email or password.")
    public static func rateLimited(retryAfter: Int) -> APIError {
        APIError(.tooManyRequests, "RATE_LIMITED", "Too many failed attempts; try again in \(retryAfter) s.", retryAfter: retryAfter)
    }
    public static let emailTaken = APIError(.conflict, "EMAIL_TAKEN", "An account with this email already exists.")
    public static let itemNotFound = APIError(.notFound, "ITEM_NOT_FOUND", "There is no such auction.")
    public static let notFound = APIError(.notFound, "NOT_FOUND", "There is nothing at this address.")
    public static let payloadTooLarge = APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "The request body is too large.")
    public static let unavailable = APIError(.serviceUnavailable, "UNAVAILABLE", "Storage is unavailable right now; nothing was changed. Try again.")
    public static let internalError = APIError(.internalServerError, "INTERNAL", "Something went wrong on our side.")

    public func response(headers: HTTPFields = [:]) -> Response {
        let body = #"{"error":{"code":\#(JSONText.string(code)),"message":\#(JSONText.string(message))}}"#
        return JSONResponse.raw(body, status: status, headers: headers)
    }
}

/// Builds JSON responses.
public enum JSONResponse {
    public static func raw(_ json: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }

    public static func encode<Value: Encodable>(_ value: Value, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try JSONCoding.encoder.encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

enum JSONText {
    static func string(_ value: String) -> String {
        let data = (try? JSONEncoder().encode(value)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// Turns every error into the API's JSON error body, so no route answers HTML or an empty body.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response(headers: error.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
        } catch let error as StorageUnavailable {
            context.logger.error("storage unavailable", metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "error": "\(error.underlying)"])
            return APIError.unavailable.response()
        } catch let error as StorageRefusedInput {
            context.logger.warning("input refused by storage", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return APIError.invalidInput("A field holds a value that cannot be stored.").response()
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: return APIError.notFound.response()
            case .contentTooLarge: return APIError.payloadTooLarge.response()
            case .methodNotAllowed: return MethodNotAllowedRoutes.error.response()
            default:
                return APIError(error.status, "HTTP_\(error.status.code)", error.body ?? error.status.reasonPhrase).response()
            }
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return APIError.internalError.response()
        }
    }
}
