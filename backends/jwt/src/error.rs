//! What can go wrong with the JWT auth method, named for the caller. Texts follow Vault's
//! (`error validating token: ...`, `error validating claims: ...`) so that clients matching on them
//! keep working. No text ever carries the token or a claim value taken from it: only claim *names*
//! (from the role) and the header's `kid`/`alg` (truncated), which are not secret.

use leasehold_backend::BackendError;

/// Everything the JWT auth method can fail with.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// A config or role field is missing, malformed or contradicts another; the text names the
    /// field. The caller's fault (400).
    #[error("{0}")]
    InvalidParameter(String),
    /// The token itself is unacceptable: malformed, wrong algorithm, bad signature, outside its
    /// validity window, wrong issuer, audience or subject. The caller's fault (400).
    #[error("error validating token: {0}")]
    InvalidToken(#[from] TokenProblem),
    /// The token is genuine but its claims do not satisfy the role (bound claims, user claim,
    /// claim mappings). The caller's fault (400).
    #[error("error validating claims: {0}")]
    InvalidClaims(#[from] ClaimsProblem),
    /// The token names an audience but the role binds none: Vault refuses rather than accept a
    /// token minted for some other service. The caller's fault (400).
    #[error("audience claim found in JWT but no audiences bound to the role")]
    AudienceNotBound,
    /// The JWKS endpoint could not be reached or answered nonsense, and no earlier keys are
    /// cached. Not the caller's fault: the identity provider (or our path to it) failed.
    #[error("error validating token: unable to fetch keys from the JWKS URL: {0}")]
    KeysUnavailable(String),
}

/// Why the token was refused before its claims were looked at, or why its registered claims
/// (`iss`, `aud`, `sub`, `exp`, `nbf`, `iat`) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// Not three base64url segments, or a segment is not the JSON it should be.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` is `none`, an HMAC algorithm, or one we do not implement.
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// `alg` is implemented but not in the config's `jwt_supported_algs`.
    #[error("signing algorithm {0:?} is not in jwt_supported_algs")]
    AlgorithmNotAllowed(String),
    /// The header lists `crit` extensions, none of which we understand (RFC 7515 §4.1.11).
    #[error("unsupported critical header parameters")]
    CriticalHeader,
    /// No configured key carries the token's `kid`, even after refetching the JWKS.
    #[error("no key with kid {0:?} found in the key set")]
    UnknownKeyId(String),
    /// No configured key could check a signature of this algorithm.
    #[error("no key is usable for algorithm {0:?}")]
    NoUsableKey(String),
    /// No candidate key verified the signature.
    #[error("failed to verify signature")]
    BadSignature,
    /// The token has no `exp`: we accept no token whose issuer set no end to it.
    #[error("token has no expiration time (exp)")]
    MissingExpiry,
    /// `exp`, even with the expiration and clock-skew leeways, is in the past.
    #[error("token is expired (exp)")]
    Expired,
    /// `nbf`, even with the not-before and clock-skew leeways, is in the future.
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat`, even with the clock-skew leeway, is in the future.
    #[error("token was issued in the future (iat)")]
    IssuedInFuture,
    /// The role sets `max_age` and the token has no `auth_time`.
    #[error("token has no auth_time, which the role's max_age requires")]
    MissingAuthTime,
    /// `auth_time` is longer ago than the role's `max_age` (plus the clock-skew leeway).
    #[error("authentication is older than the role's max_age (auth_time)")]
    AuthenticationTooOld,
    /// `auth_time`, even with the clock-skew leeway, is in the future.
    #[error("authentication time is in the future (auth_time)")]
    AuthenticatedInFuture,
    /// A registered claim has the wrong JSON type (`exp` not a number, `aud` not strings...).
    #[error("invalid {0} claim")]
    InvalidClaimType(&'static str),
    /// `iss` is missing or differs from the config's `bound_issuer`.
    #[error("iss claim does not match bound_issuer")]
    WrongIssuer,
    /// `aud` is missing or shares no value with the role's `bound_audiences`.
    #[error("aud claim matches none of the role's bound_audiences")]
    WrongAudience,
    /// `sub` is missing or differs from the role's `bound_subject`.
    #[error("sub claim does not match bound_subject")]
    WrongSubject,
}

/// Why a genuine token's claims do not satisfy the role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsProblem {
    /// A claim named in `bound_claims` is absent.
    #[error("claim {0:?} is missing")]
    BoundClaimMissing(String),
    /// A claim named in `bound_claims` has no value among the allowed ones.
    #[error("claim {0:?} matches none of the role's bound values")]
    BoundClaimMismatch(String),
    /// The role's `user_claim` is absent.
    #[error("user claim {0:?} is missing from the token")]
    UserClaimMissing(String),
    /// The role's `user_claim` is not a string or a number, or is empty.
    #[error("user claim {0:?} is not a non-empty string or number")]
    UserClaimNotString(String),
    /// A claim named in `claim_mappings` is an object or a list.
    #[error("mapped claim {0:?} is not a string, number or boolean")]
    MappedClaimNotString(String),
}

impl JwtError {
    /// True when the request, not the server or the identity provider, is at fault; the HTTP
    /// layer answers 400 for these and a gateway error otherwise.
    pub fn is_caller_fault(&self) -> bool {
        !matches!(self, JwtError::KeysUnavailable(_))
    }
}

/// Lets login and config handlers use `?`. Caller faults become invalid requests (400) with the
/// texts above; a failed JWKS fetch is the identity provider's failure, reported as a target
/// error (502).
impl From<JwtError> for BackendError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::KeysUnavailable(_) => BackendError::Target(e.to_string()),
            JwtError::InvalidParameter(_)
            | JwtError::InvalidToken(_)
            | JwtError::InvalidClaims(_)
            | JwtError::AudienceNotBound => BackendError::InvalidRequest(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_follow_vault() {
        assert_eq!(
            JwtError::from(TokenProblem::Expired).to_string(),
            "error validating token: token is expired (exp)"
        );
        assert_eq!(
            JwtError::from(ClaimsProblem::BoundClaimMismatch("groups".into())).to_string(),
            "error validating claims: claim \"groups\" matches none of the role's bound values"
        );
        assert_eq!(
            JwtError::AudienceNotBound.to_string(),
            "audience claim found in JWT but no audiences bound to the role"
        );
    }

    #[test]
    fn statuses_split_caller_fault_from_ours() {
        assert!(matches!(
            BackendError::from(JwtError::AudienceNotBound),
            BackendError::InvalidRequest(_)
        ));
        assert!(!JwtError::KeysUnavailable("timeout".into()).is_caller_fault());
        assert!(matches!(
            BackendError::from(JwtError::KeysUnavailable("timeout".into())),
            BackendError::Target(_)
        ));
    }
}
