//! The one error type of the crate: every request the gateway refuses to attribute, every
//! patch body it cannot summarise and every SPDY frame it cannot read, each message saying
//! what was wrong. All of them are the
//! client's fault (a `400 Bad Request` to Kubernetes clients) except where a variant says so.

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

/// Why a request could not be attributed or a patch body summarised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributionError {
    #[error("the HTTP method `{0}` is not a method token")]
    InvalidMethod(String),
    #[error("the request path must start with `/`")]
    PathNotAbsolute,
    #[error("the request path is {len} bytes long; at most {max} are accepted")]
    PathTooLong { len: usize, max: usize },
    #[error("the request target has a fragment (`#`), which no request target may carry")]
    Fragment,
    #[error("the {0} has a `%` not followed by two hexadecimal digits")]
    MalformedPercent(TargetPart),
    #[error("the path has an encoded slash (`%2F`); it would split a segment differently upstream")]
    EncodedSlash,
    #[error(
        "the path has an encoded percent sign (`%25`); a second decoding upstream would read \
         something else"
    )]
    EncodedPercent,
    #[error("the path has a backslash (raw or `%5C`), which some servers read as a slash")]
    Backslash,
    #[error("the path has a control character (raw or encoded)")]
    ControlCharacter,
    #[error("the query has a NUL character")]
    NulInQuery,
    #[error("the {0} does not decode to UTF-8")]
    NotUtf8(TargetPart),
    #[error("the path has a `.` or `..` segment (raw or encoded); send the path it stands for")]
    DotSegment,
    #[error(
        "the query has a `;`, which kube-apiserver drops with its parameter; use `&` between \
         parameters"
    )]
    QuerySemicolon,
    #[error("`{path}` names no resource after `{verb}`: kube-apiserver cannot attribute it either")]
    NoResourceAfterVerb { path: String, verb: String },
    #[error(
        "`{0}` is not a Kubernetes patch type; use application/json-patch+json, \
         application/merge-patch+json, application/strategic-merge-patch+json or \
         application/apply-patch+yaml"
    )]
    UnsupportedPatchType(String),
    #[error(
        "the server-side apply body is not JSON; YAML apply bodies are not decided (send JSON, \
         as kubectl does)"
    )]
    ApplyYamlUndecided,
    #[error("malformed patch body: {0}")]
    MalformedPatch(String),
    #[error("the patch nests deeper than {0} levels")]
    PatchTooDeep(usize),
    #[error("the patch touches more than {0} field paths")]
    TooManyPatchPaths(usize),
    #[error("the patch's field paths, repeats included, add up to more than {0} bytes")]
    PatchPathsTooLarge(usize),
    #[error("a SPDY frame of {len} bytes is longer than the {max} bytes accepted")]
    SpdyFrameTooLarge { len: usize, max: usize },
    #[error("malformed SPDY frame: {0}")]
    SpdyMalformed(String),
    #[error("a SPDY header block cannot be read: {0}")]
    SpdyHeaderBlock(String),
    #[error("a SPDY header block inflates to more than {0} bytes")]
    SpdyHeadersTooLarge(usize),
}
