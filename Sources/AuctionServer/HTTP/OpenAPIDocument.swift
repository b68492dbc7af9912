import AuctionCore
import SocketIO

/// The OpenAPI 3.1 description of the REST API, served at `GET /openapi.json`.
///
/// Built in the binary (not read from a file), so every instance serves it wherever it was
/// started from. The service suite checks real answers against it (`test_openapi.py`) and lets
/// schemathesis generate requests from it (`test_schemathesis.py`): a schema here that the
/// server does not keep fails there.
enum OpenAPIDocument {
    static let json: String = document.jsonText

    static var document: JSONValue {
        [
            "openapi": "3.1.0",
            "info": [
                "title": "Auction service REST API",
                "version": "1.0.0",
                "description": """
                    Sign-in, auctions and their bids. Bids themselves are placed over Socket.IO at \
                    `/socket.io/` (event `bid`), not here. Every error body is \
                    `{"error": {"code", "message"}}`; ids are opaque strings (a malformed id is \
                    unknown: 404); money is an integer number of the smallest unit; times are \
                    RFC 3339 UTC. Writes (POST) from a browser page of another origin are refused \
                    (403 CROSS_SITE_REQUEST), and a POST body must be `application/json` (415).
                    """,
            ],
            "paths": paths,
            "components": [
                "schemas": schemas,
                "securitySchemes": securitySchemes,
            ],
        ]
    }

    // MARK: - Paths

    static var paths: JSONValue {
        [
            "/auth/register": ["post": register],
            "/auth/login": ["post": login],
            "/auth/refresh": ["post": refresh],
            "/auth/logout": ["post": logout],
            "/auth/me": ["get": me],
            "/items": ["get": listItems, "post": createItem],
            "/items/{id}": ["get": getItem],
            "/items/{id}/bids": ["get": listBids],
            "/healthz": ["get": healthz],
            "/readyz": ["get": readyz],
            "/metrics": ["get": metrics],
            "/openapi.json": ["get": openAPI],
        ]
    }

    static var register: JSONValue {
        operation(
            "register", tag: "auth", summary: "Create an account.",
            body: ref("Registration"),
            responses: [
                "201": json("The new account.", ref("UserAnswer"), links: [
                    "login": link("login", body: ["email": "$request.body#/email", "password": "$request.body#/password"]),
                ]),
                "409": error("An account with this email already exists (emails are unique without case).", "EMAIL_TAKEN"),
            ]
        )
    }

    static var login: JSONValue {
        operation(
            "login", tag: "auth",
            summary: "Sign in: an access token (body and `access_token` cookie) and a refresh token (body and `refresh_token` cookie, path `/auth`).",
            body: ref("Credentials"),
            responses: [
                "200": signedIn("Signed in."),
                "401": error("Wrong email or password (the same answer for an unknown email).", "INVALID_CREDENTIALS"),
                "429": [
                    "description": "Too many failed sign-ins for this account or from this address; failures only are counted.",
                    "headers": ["Retry-After": header("Seconds until the window ends.", ["type": "integer", "minimum": 0], required: true)],
                    "content": ["application/json": ["schema": errorSchema(["RATE_LIMITED"])]],
                ],
            ]
        )
    }

    static var refresh: JSONValue {
        operation(
            "refresh", tag: "auth",
            summary: "Spend a refresh token (the `refresh_token` cookie, else `{refreshToken}`) for a new pair; presenting a spent one ends its whole sign-in.",
            security: [["refreshCookie": []], [:]],
            body: ref("RefreshRequest"), bodyRequired: false,
            responses: [
                "200": signedIn("A new access token and the next refresh token."),
                "401": error("No refresh token, or an unknown, expired or spent one.", "UNAUTHORIZED"),
            ]
        )
    }

    static var logout: JSONValue {
        operation(
            "logout", tag: "auth",
            summary: "End the request's sign-in on every instance (its access tokens are refused, its sockets disconnected) and clear the cookies.",
            security: [["bearerAuth": []], ["cookieAuth": []], ["refreshCookie": []], [:]],
            parameters: [
                query("everywhere", "`true`: end every sign-in of the user (needs a valid access token); `false` or absent: this sign-in only.", ["type": "string", "enum": ["true", "false"]]),
            ],
            bodyless: true,
            responses: [
                "204": [
                    "description": "Signed out; the cookies are cleared.",
                    "headers": ["Set-Cookie": header("Clears `access_token`, `session_id`, `refresh_token` and `signed_in`.", ["type": "string"], required: true)],
                ],
                "400": error("`everywhere` other than `true` or `false`, or given twice.", "INVALID_INPUT"),
                "401": error("`everywhere=true` without a valid access token.", "UNAUTHORIZED"),
            ]
        )
    }

    static var me: JSONValue {
        operation(
            "me", tag: "auth", summary: "The signed-in user.",
            security: signedInOnly,
            responses: [
                "200": json("The user of the access token.", ref("UserAnswer")),
                "401": error("No valid access token.", "UNAUTHORIZED"),
            ]
        )
    }

    static var listItems: JSONValue {
        operation(
            "listItems", tag: "items", summary: "Auctions, open ones first.",
            parameters: [limit],
            responses: [
                "200": json("Up to `limit` auctions.", ["type": "array", "items": ref("Item")], links: [
                    "getFirstItem": link("getItem", parameters: ["id": "$response.body#/0/id"]),
                ]),
                "400": error("`limit` is not a whole number of at least 1.", "INVALID_INPUT"),
            ]
        )
    }

    static var createItem: JSONValue {
        operation(
            "createItem", tag: "items", summary: "Start an auction (its Socket.IO room `item:<id>` comes with it).",
            security: signedInOnly,
            body: ref("NewItem"),
            responses: [
                "201": json("The new auction.", ref("Item"), links: itemLinks),
                "401": error("No valid access token.", "UNAUTHORIZED"),
            ]
        )
    }

    static var getItem: JSONValue {
        operation(
            "getItem", tag: "items",
            summary: "One auction. A request whose `Accept` names `text/html` gets the auction room page instead.",
            parameters: [itemID],
            responses: [
                "200": [
                    "description": "The auction (or its room page for browsers).",
                    "content": ["application/json": ["schema": ref("Item")], "text/html": ["schema": ["type": "string"]]],
                    "links": ["listBids": listBidsLink],
                ],
                "404": error("No such auction (a malformed id included).", "ITEM_NOT_FOUND"),
            ]
        )
    }

    static var listBids: JSONValue {
        operation(
            "listBids", tag: "items", summary: "The accepted bids of an auction, oldest first.",
            parameters: [
                itemID,
                query("after", "Only bids accepted after the bid with this id.", ["type": "string", "pattern": "^[0-9]+$"]),
                limit,
            ],
            responses: [
                "200": json("Up to `limit` bids.", ["type": "array", "items": ref("Bid")]),
                "400": error("`limit` is not a whole number of at least 1, or `after` is not a bid id.", "INVALID_INPUT"),
                "404": error("No such auction (a malformed id included).", "ITEM_NOT_FOUND"),
            ]
        )
    }

    static var healthz: JSONValue {
        operation(
            "healthz", tag: "operations", summary: "The process serves.", usesStorage: false,
            responses: ["200": json("Serving.", ref("Health"))]
        )
    }

    static var readyz: JSONValue {
        operation(
            "readyz", tag: "operations", summary: "PostgreSQL and (when configured) Redis answer.", usesStorage: false,
            responses: [
                "200": json("Ready.", ref("Readiness")),
                "503": json("PostgreSQL or Redis does not answer; the body says which.", ref("Readiness")),
            ]
        )
    }

    static var metrics: JSONValue {
        operation(
            "metrics", tag: "operations", summary: "Prometheus text exposition format 0.0.4.", usesStorage: false,
            responses: ["200": ["description": "The metric families.", "content": ["text/plain": ["schema": ["type": "string"]]]]]
        )
    }

    static var openAPI: JSONValue {
        operation(
            "openAPI", tag: "operations", summary: "This document.", usesStorage: false,
            responses: ["200": json("The OpenAPI 3.1 document of the REST API.", ["type": "object", "required": ["openapi", "paths"]])]
        )
    }

    // MARK: - Parameters and links

    static var limit: JSONValue {
        query("limit", "How many at most: default 100; above 1000 counts as 1000.", ["type": "integer", "minimum": 1, "default": 100])
    }

    static var itemID: JSONValue {
        ["name": "id", "in": "path", "required": true, "description": "The auction's id.", "schema": ["type": "string", "minLength": 1]]
    }

    static var itemLinks: JSONValue {
        ["getItem": link("getItem", parameters: ["id": "$response.body#/id"]), "listBids": listBidsLink]
    }

    static var listBidsLink: JSONValue { link("listBids", parameters: ["id": "$response.body#/id"]) }

    static let signedInOnly: JSONValue = [["bearerAuth": []], ["cookieAuth": []]]

    static func query(_ name: String, _ description: String, _ schema: JSONValue) -> JSONValue {
        ["name": .string(name), "in": "query", "required": false, "description": .string(description), "schema": schema]
    }

    static func link(_ operationID: String, parameters: JSONValue? = nil, body: JSONValue? = nil) -> JSONValue {
        var members = [JSONMember(key: "operationId", value: .string(operationID))]
        if let parameters { members.append(JSONMember(key: "parameters", value: parameters)) }
        if let body { members.append(JSONMember(key: "requestBody", value: body)) }
        return .object(members)
    }

    static func header(_ description: String, _ schema: JSONValue, required: Bool) -> JSONValue {
        ["description": .string(description), "required": .bool(required), "schema": schema]
    }

    // MARK: - Operations and responses

    /// An operation with the answers every route can give besides its own: storage down (503)
    /// and, for a POST, a cross-origin page (403), a non-JSON body (415), a body over 64 KiB
    /// (413) and a body that is not what the route reads (400).
    static func operation(
        _ id: String, tag: String, summary: String,
        security: JSONValue = [],
        parameters: [JSONValue] = [],
        body: JSONValue? = nil, bodyRequired: Bool = true, bodyless: Bool = false, usesStorage: Bool = true,
        responses: JSONValue
    ) -> JSONValue {
        var answers = responses.objectMembers
        let isWrite = body != nil || bodyless
        if isWrite {
            answers.append(JSONMember(key: "403", value: error("Sent from a page of another origin.", "CROSS_SITE_REQUEST")))
            answers.append(JSONMember(key: "415", value: error("A body that is not `application/json`.", "UNSUPPORTED_MEDIA_TYPE")))
        }
        if body != nil {
            if !answers.contains(where: { $0.key == "400" }) {
                answers.append(JSONMember(key: "400", value: error("Not JSON, a field missing or of the wrong type, or a value out of range; the message names the field.", "INVALID_INPUT")))
            }
            answers.append(JSONMember(key: "413", value: error("A body over 64 KiB.", "PAYLOAD_TOO_LARGE")))
        }
        if usesStorage {
            answers.append(JSONMember(key: "503", value: error("Storage is unavailable; nothing was changed.", "UNAVAILABLE")))
        }
        var members: [JSONMember] = [
            JSONMember(key: "operationId", value: .string(id)),
            JSONMember(key: "tags", value: [.string(tag)]),
            JSONMember(key: "summary", value: .string(summary)),
            JSONMember(key: "security", value: security),
        ]
        if !parameters.isEmpty { members.append(JSONMember(key: "parameters", value: .array(parameters))) }
        if let body {
            members.append(JSONMember(key: "requestBody", value: [
                "required": .bool(bodyRequired),
                "content": ["application/json": ["schema": body]],
            ]))
        }
        members.append(JSONMember(key: "responses", value: .object(answers.sorted { $0.key < $1.key })))
        return .object(members)
    }

    static func json(_ description: String, _ schema: JSONValue, links: JSONValue? = nil) -> JSONValue {
        var members = [
            JSONMember(key: "description", value: .string(description)),
            JSONMember(key: "content", value: ["application/json": ["schema": schema]]),
        ]
        if let links { members.append(JSONMember(key: "links", value: links)) }
        return .object(members)
    }

    static func signedIn(_ description: String) -> JSONValue {
        [
            "description": .string(description),
            "headers": [
                "Set-Cookie": header("`access_token` (`Path=/; HttpOnly; SameSite=Strict`), `refresh_token` (`Path=/auth`) and `signed_in=1` (`Path=/`, readable by the page, nothing secret).", ["type": "string"], required: true),
                "Cache-Control": header("`no-store`.", ["const": "no-store"], required: true),
            ],
            "content": ["application/json": ["schema": ref("LoginAnswer")]],
            "links": ["refresh": link("refresh", body: ["refreshToken": "$response.body#/refreshToken"])],
        ]
    }

    static func error(_ description: String, _ codes: String...) -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": errorSchema(codes)]]]
    }

    /// `{"error": {"code", "message"}}` with one of these codes (any SNAKE_CASE code when empty).
    static func errorSchema(_ codes: [String]) -> JSONValue {
        let code: JSONValue = codes.isEmpty
            ? ["type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"]
            : ["enum": .array(codes.map { .string($0) })]
        return object(["error": object(["code": code, "message": ["type": "string", "minLength": 1]])])
    }

    // MARK: - Schemas

    static var schemas: JSONValue {
        let money: JSONValue = ["type": "integer", "minimum": 1, "maximum": .number(Double(MoneyLimits.maximum)), "description": "In the smallest unit."]
        let time: JSONValue = ["type": "string", "format": "date-time", "description": "RFC 3339, UTC."]
        let id: JSONValue = ["type": "string", "minLength": 1, "description": "Opaque."]
        return [
            "User": object(["id": id, "email": ["type": "string"], "name": ["type": "string"]]),
            "Bidder": object(["id": id, "name": ["type": "string"]]),
            "Item": object([
                "id": id,
                "roomId": ["type": "string", "description": "The Socket.IO room of the auction: `item:<id>`."],
                "title": ["type": "string"],
                "description": ["type": "string"],
                "startingPrice": money,
                "minIncrement": money,
                "currentPrice": ["type": "integer", "minimum": 0, "description": "The highest accepted bid; 0 before the first."],
                "highestBidder": ["anyOf": [ref("Bidder"), ["type": "null"]]],
                "endsAt": time,
                "status": ["enum": ["open", "closed"]],
                "sellerId": id,
            ]),
            "Bid": object(["id": id, "itemId": id, "price": money, "bidder": ref("Bidder"), "createdAt": time]),
            "Error": errorSchema([]),
            "UserAnswer": object(["user": ref("User")]),
            "LoginAnswer": object([
                "accessToken": ["type": "string", "minLength": 1, "description": "An HS256 JWT; also the `access_token` cookie."],
                "tokenType": ["const": "Bearer"],
                "expiresIn": ["type": "integer", "minimum": 1, "description": "Seconds the access token lives."],
                "refreshToken": ["type": "string", "minLength": 1, "description": "Spent at `POST /auth/refresh`; also the `refresh_token` cookie."],
                "user": ref("User"),
            ]),
            // Request bodies: lengths as the server counts them (Unicode code points; the
            // password in bytes of UTF-8, which only its upper bound bounds in code points).
            // Unknown fields are ignored, so these stay open.
            "Registration": requestObject([
                "email": ["type": "string", "format": "email", "minLength": 3, "maxLength": 254, "description": "One `@`, a dot in the domain; unique without case."],
                "name": ["type": "string", "minLength": 1, "maxLength": 100],
                "password": password,
            ]),
            "Credentials": requestObject(["email": ["type": "string"], "password": password]),
            "RefreshRequest": requestObject(["refreshToken": ["type": "string"]]),
            "NewItem": requestObject([
                "title": ["type": "string", "minLength": 1, "maxLength": 200],
                "description": ["type": "string", "maxLength": 5000],
                "startingPrice": money,
                "minIncrement": money,
                "endsAt": ["type": "string", "format": "date-time", "description": "In the future, within a year; whole seconds."],
            ], optional: ["description"]),
            "Health": object(["status": ["const": "ok"]]),
            "Readiness": object([
                "status": ["enum": ["ready", "unavailable"]],
                "postgres": ["enum": ["up", "down"]],
                "redis": ["enum": ["up", "down"], "description": "Present when the instance uses Redis."],
                "redisError": ["type": "string", "description": "While Redis is down: why the last connection attempt failed (a refused password, TLS, unreachable)."],
            ], optional: ["redis", "redisError"]),
        ]
    }

    static var password: JSONValue {
        ["type": "string", "minLength": 1, "maxLength": 72, "description": "8 to 72 bytes of UTF-8, no control characters."]
    }

    static var securitySchemes: JSONValue {
        [
            "bearerAuth": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "The `accessToken` of a sign-in."],
            "cookieAuth": ["type": "apiKey", "in": "cookie", "name": "access_token", "description": "Set by a sign-in (browsers)."],
            "refreshCookie": ["type": "apiKey", "in": "cookie", "name": "refresh_token", "description": "Set by a sign-in; sent to `/auth` only."],
        ]
    }

    /// An object of an answer: these properties, all required but `optional`, and no others.
    static func object(_ properties: KeyValuePairs<String, JSONValue>, optional: Set<String> = []) -> JSONValue {
        var schema = requestObject(properties, optional: optional)
        if case .object(var members) = schema {
            members.insert(JSONMember(key: "additionalProperties", value: false), at: 1)
            schema = .object(members)
        }
        return schema
    }

    /// An object the server reads: the fields it needs required, unknown ones ignored.
    static func requestObject(_ properties: KeyValuePairs<String, JSONValue>, optional: Set<String> = []) -> JSONValue {
        [
            "type": "object",
            "required": .array(properties.map(\.key).filter { !optional.contains($0) }.map { .string($0) }),
            "properties": .object(properties),
        ]
    }

    static func ref(_ name: String) -> JSONValue {
        ["$ref": .string("#/components/schemas/\(name)")]
    }
}

extension JSONValue {
    fileprivate var objectMembers: [JSONMember] {
        if case .object(let members) = self { return members }
        return []
    }
}
