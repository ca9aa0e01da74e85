//! The one error type of the crate: every request gatehouse refuses to read because the API
//! behind it could read it differently from the policy that decides it. Each message says
//! what was refused and what to send instead: the adapter shows it to the client in a
//! `400 Bad Request` problem answer.

/// Where in a request target a refused byte sequence was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPart {
    Path,
    Query,
}

impl std::fmt::Display for TargetPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetPart::Path => "path",
            TargetPart::Query => "query",
        })
    }
}

/// Why a request was refused before policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpApiError {
    #[error("`{0}` is not an HTTP method token; send a method such as GET or POST")]
    InvalidMethod(String),
    #[error(
        "the request target `{0}` is not a path; send the path and query only, starting \
         with `/` (origin form)"
    )]
    NotOriginForm(String),
    #[error(
        "the {0} has a character outside printable ASCII (a space, a control character or \
         non-ASCII text); percent-encode it"
    )]
    RawByte(TargetPart),
    #[error(
        "the request target has a fragment (`#`); remove it, fragments are not sent to servers"
    )]
    Fragment,
    #[error(
        "the {0} has a `%` not followed by two hexadecimal digits; write a literal `%` as `%25`"
    )]
    MalformedPercent(TargetPart),
    #[error(
        "the path has a backslash (raw or `%5C`), which some servers read as a slash; use `/` \
         between segments and leave backslashes out"
    )]
    Backslash,
    #[error("the {0} has an encoded control character (`%00` to `%1F`, or `%7F`); leave it out")]
    EncodedControl(TargetPart),
    #[error(
        "the path has a `.` or `..` segment (raw or encoded); send the path it stands for, \
         without dot segments"
    )]
    DotSegment,
    #[error("the path has an empty segment (`//`); send it with single slashes")]
    EmptySegment,
    #[error(
        "the path has a double-encoded dot, slash, backslash or control character (such as \
         `%252e`), which a server that decodes twice would read as the character itself; \
         encode it once"
    )]
    DoubleEncoded,
    #[error("the method override `{0}` is not a method token; claim a method such as DELETE")]
    InvalidOverride(String),
    #[error(
        "the method overrides disagree (`{0}` and `{1}`); send one claimed method (the \
         X-HTTP-Method-Override, X-HTTP-Method and X-Method-Override headers and the `_method` \
         parameter must agree)"
    )]
    ConflictingOverrides(String, String),
    #[error(
        "a {sent} request may not claim to be a {claimed} through a method override: the \
         server might ignore the claim and write; send a plain {claimed} request instead"
    )]
    WriteClaimsRead { sent: String, claimed: String },
    #[error("a WebSocket upgrade must be a GET request, not {0}; open the WebSocket with GET")]
    WebsocketMethod(String),
    #[error("the request has {0} Content-Type headers; send exactly one")]
    ContentTypeRepeated(usize),
    #[error(
        "the body is not valid JSON ({0}) though its Content-Type says JSON; send valid JSON \
         or the Content-Type of what the body is"
    )]
    InvalidJson(String),
    #[error(
        "the JSON body has the key `{0}` twice in one object, and servers differ on which one \
         they use; send each key once"
    )]
    DuplicateJsonKey(String),
    #[error(
        "batched GraphQL operations (a JSON array body) are not accepted; send each operation \
         in a request of its own"
    )]
    GraphqlBatch,
    #[error(
        "the GraphQL request has no `query` document gatehouse can read (persisted queries \
         included); send the document as the string `query` of a JSON object body, as an \
         application/graphql body, or as the `query` parameter of a GET"
    )]
    GraphqlNoDocument,
    #[error(
        "the GraphQL request carries a document or operationName both in the URL and in the \
         body; send them in one place"
    )]
    GraphqlTwoPlaces,
    #[error("the GraphQL {0} is given more than once; give it once")]
    GraphqlRepeated(&'static str),
    #[error("the GraphQL `operationName` is not a string; send a string or null")]
    GraphqlOperationNameType,
    #[error("the GraphQL document cannot be read: {0}; send a valid executable document")]
    GraphqlUnreadable(String),
    #[error("the GraphQL document defines no operation; send a query, mutation or subscription")]
    GraphqlNoOperation,
    #[error(
        "the GraphQL document defines {0} operations and the request names none; name the one \
         to run in `operationName` (and give every operation a name)"
    )]
    GraphqlAmbiguous(usize),
    #[error(
        "the GraphQL document has no operation named `{0}` (or more than one); send an \
         `operationName` the document defines once"
    )]
    GraphqlOperationNotFound(String),
}

/// At most this much of a client's text is quoted back in a message.
const QUOTED_CHARS: usize = 64;

/// `text` as quoted in an error message: at most [`QUOTED_CHARS`] characters, controls
/// escaped.
pub(crate) fn quoted(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(QUOTED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(QUOTED_CHARS).is_some() {
        out.push_str("...");
    }
    out
}
