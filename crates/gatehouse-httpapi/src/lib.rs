//! What a request to an internal HTTP API asks, read the way the API's server will read it,
//! so that the gateway in front of it decides on exactly what the server executes. Pure
//! domain: no network, no HTTP framework; the adapter hands it what it received
//! ([`HttpInput`]) and forwards the request unchanged when policy allows it.
//!
//! # What it gives
//!
//! - [`attribute`]: the request's [`HttpRequestAttributes`]: the method decided (a method
//!   override claims another one), the path and query as forwarded with their decoded
//!   segments and parameters, the headers the connection selects, the body's media type,
//!   length and SHA-256, a JSON body's top-level keys and scalars, and a GraphQL request's
//!   operation ([`GraphqlOperation`]); its Cedar action is [`HttpRequestAttributes::action`].
//! - [`HttpApiRequest`]: the same in the pipeline's terms ([`gatehouse_core::ProtocolRequest`]),
//!   with the `http` schema fragment [`HTTP_PROTOCOL`] and the connection kind [`HTTP`].
//! - [`Problem`]: RFC 9457 problem details, what refusals are answered with.
//!
//! # Nothing is normalised: what is ambiguous is refused
//!
//! The forwarded target is the received one, byte for byte
//! ([`HttpRequestAttributes::request_target`]), so policy sees the string the server gets.
//! Instead of normalising, the reader refuses ([`HttpApiError`], a `400` for the client)
//! whatever two servers could read differently: a target that is not a path, bytes outside
//! printable ASCII, `#`, backslashes (raw or `%5C`), malformed or control escapes, dot
//! segments in any spelling (also before a `;`), `//`, escapes that decode to a dangerous
//! escape (`%252e`); method overrides that disagree or turn a write into a read; a WebSocket
//! upgrade that is not a GET; two Content-Type headers; a JSON body that is not JSON or has
//! a key twice in an object; a GraphQL request whose operation is in doubt (batches, no
//! readable document, several operations and no `operationName`).
//!
//! # Decided here, for the adapter to know
//!
//! - An encoded slash stays encoded (`/api/queues/%2F/q` forwards as sent) and decodes inside
//!   its segment: segments `api`, `queues`, `/`, `q`. A trailing slash adds no segment.
//! - The method is upper-cased for deciding (`get` is decided as `GET`, forwarded as sent).
//!   Overrides are read from `X-HTTP-Method-Override`, `X-HTTP-Method`, `X-Method-Override`
//!   and `_method` (query parameters split on `&` and `;`); a GET may claim a write (decided
//!   as that write), a write may not claim a read.
//! - JSON is `application/json` or `*/*+json`; bodies over the JSON limit are not read and
//!   not refused (their fields are simply empty): policies that need fields fail closed.
//! - GraphQL is a path whose last segment is `graphql` or an `application/graphql` body.
//!
//! # Use
//!
//! ```
//! use gatehouse_core::ProtocolRequest;
//! use gatehouse_httpapi::{HttpApiRequest, HttpInput, attribute};
//! # fn main() -> Result<(), gatehouse_httpapi::HttpApiError> {
//! let headers = [("content-type", "application/json")];
//! let body = br#"{"query":"mutation Drop { drop(id: 7) }"}"#;
//! let input = HttpInput {
//!     method: "POST",
//!     target: "/api/graphql",
//!     headers: &headers,
//!     selected_headers: &[],
//!     body,
//!     json_body_limit: 64 * 1024,
//!     websocket: false,
//! };
//! let attributes = attribute(&input)?;
//! let operation = attributes.graphql.clone().unwrap_or_else(|| unreachable!());
//! assert_eq!((operation.kind.as_str(), operation.name.as_str()), ("mutation", "Drop"));
//!
//! let request = HttpApiRequest::new(attributes);
//! assert_eq!(request.action(), "http:post");
//! assert_eq!(request.text(), "POST /api/graphql");
//!
//! let dots = HttpInput { target: "/api/%2e%2e/admin", ..input };
//! assert!(attribute(&dots).is_err());
//! # Ok(())
//! # }
//! ```

mod attribution;
mod error;
mod graphql;
mod json;
mod method;
mod problem;
mod request;
mod schema;
mod target;

pub use attribution::{HttpInput, HttpRequestAttributes, attribute};
pub use error::{HttpApiError, TargetPart};
pub use graphql::GraphqlOperation;
pub use json::MAX_DEPTH as MAX_JSON_DEPTH;
pub use problem::{PROBLEM_CONTENT_TYPE, Problem};
pub use request::HttpApiRequest;
pub use schema::{HTTP, HTTP_PROTOCOL};
